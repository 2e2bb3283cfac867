"""Outer updates of the meta-initialization: MAML, first-order MAML and Reptile.

* MAML (Finn et al. 2017): minimise the query loss of the adapted parameters, differentiating
  through the inner loop (second order).
* First-order MAML: the same objective with the inner gradients detached, so the meta-gradient
  is the query gradient at the adapted parameters.
* Reptile (Nichol et al. 2018): ``θ ← θ + ε · mean_i(φ_i − θ)``, applied as the pseudo-gradient
  ``θ − mean_i φ_i`` so that plain SGD with learning rate ε gives exactly that update.

The functions see parameters, a support loss and a query function; nothing here knows about
classification or reinforcement learning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from metarl.core.batching import map_tasks
from metarl.core.inner_loop import InnerLoop, PerStep, TaskLoss
from metarl.core.params import Params, leading_size, tree_index, tree_stack
from metarl.errors import ConfigError

Algorithm = Literal["maml", "fomaml", "reptile"]
ALGORITHMS: tuple[str, ...] = ("maml", "fomaml", "reptile")

QueryFn = Callable[[Params, Any], tuple[Tensor, dict[str, Tensor]]]
"""``query_fn(adapted_params, query_data) -> (loss, metrics)`` for one task."""


def task_objective(
    params: Params,
    inner: InnerLoop,
    support_loss: TaskLoss,
    query_fn: QueryFn,
    support: Any,
    query: Any,
    step_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """One task's query loss and metrics after adapting ``params`` on its support data.

    The loss stays differentiable in ``params`` (and in learned inner step sizes), through the
    inner loop unless it is first-order. With ``step_weights`` (one per inner step) the loss is
    MAML++'s multi-step loss ``Σ_k w_k L_query(θ_k)`` over the parameters after each step k =
    1..K; metrics are always those after the last step. The query sees per-step tensors at the
    entry of the number of updates made (:meth:`InnerLoop.at_step`).
    """
    steps = inner.config.steps
    if step_weights is None:
        adapted = inner.adapt(params, support_loss, support)
        return query_fn(inner.at_step(adapted, steps), query)
    if step_weights.shape != (steps,):
        raise ValueError(f"need {steps} step weights, got {step_weights.shape}")
    total, adapted = 0.0, params
    for k in range(steps):
        data = support[k] if isinstance(support, PerStep) else support
        adapted = inner.step(adapted, support_loss, data, k)
        loss, metrics = query_fn(inner.at_step(adapted, k + 1), query)
        total = total + step_weights[k] * loss
    return total, metrics


def meta_objective(
    params: Params,
    inner: InnerLoop,
    support_loss: TaskLoss,
    query_fn: QueryFn,
    support: Any,
    query: Any,
    vectorize: bool = True,
    step_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """:func:`task_objective` of every task of a meta-batch: ``(losses [n_tasks], metrics
    {name: [n_tasks]})``, differentiable in ``params``."""

    def one_task(shared: Params, task_support: Any, task_query: Any) -> Any:
        return task_objective(
            shared, inner, support_loss, query_fn, task_support, task_query, step_weights
        )

    return map_tasks(one_task, (params, support, query), (False, True, True), vectorize)


def backward_task_by_task(
    task_loss: Callable[[int], tuple[Tensor, dict[str, Tensor]]], n_tasks: int
) -> tuple[Tensor, dict[str, Tensor]]:
    """Accumulate the gradient of ``mean_t task_loss(t)[0]`` one task at a time.

    Each task's loss is backpropagated before the next task's graph is built, so the memory in
    use is one task's graph, not the meta-batch's (for the Omniglot conv net on CPU: 1.4x
    faster beside other jobs, about even alone; ``docs/bench_fewshot.md``). The gradient equals
    that of the mean loss up to float summation order. Returns the detached losses ``[n_tasks]`` and
    metrics ``{name: [n_tasks]}``.
    """
    outputs = []
    for task in range(n_tasks):
        loss, metrics = task_loss(task)
        (loss / n_tasks).backward()
        outputs.append((loss.detach(), {name: value.detach() for name, value in metrics.items()}))
    return tree_stack(outputs)


def multi_step_weights(steps: int, progress: float, min_weight: float = 0.03) -> Tensor:
    """MAML++'s annealed per-step loss weights (Antoniou et al. 2019, §4 "MSL").

    Uniform ``1/K`` at ``progress = 0``; the weights of steps 1..K−1 fall linearly to
    ``min_weight / K`` and the last step's rises to ``1 − (K−1)·min_weight/K`` at
    ``progress = 1`` (the fraction of the annealing period done), as in the authors' code.
    """
    progress = min(max(progress, 0.0), 1.0)
    floor = min_weight / steps
    early = max(1.0 / steps - progress / steps, floor)
    weights = torch.full((steps,), early)
    weights[-1] = 1.0 - (steps - 1) * early
    return weights


def reptile_direction(params: Params, adapted: Params) -> Params:
    """``mean_i(φ_i − θ)`` per parameter (zero where not adapted); ``adapted`` is task-batched."""
    return {name: (adapted[name] - params[name]).mean(0) for name in params}


class MetaOptimizer:
    """Owns the outer update of a model's parameters (and of learned inner step sizes).

    Args:
        params: the meta-parameters θ (leaf tensors with ``requires_grad``).
        inner: the inner loop; MAML variants train its step sizes too.
        algorithm: "maml", "fomaml" or "reptile".
        outer_lr: the outer learning rate (Reptile's ε when the optimizer is "sgd").
        optimizer: "adam" or "sgd".
        vectorize: vmap over the tasks of a meta-batch (else loop over them).
    """

    def __init__(
        self,
        params: Params,
        inner: InnerLoop,
        algorithm: Algorithm,
        outer_lr: float,
        optimizer: Literal["adam", "sgd"] = "adam",
        vectorize: bool = True,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"unknown meta algorithm {algorithm!r}; choose one of {ALGORITHMS}")
        if algorithm in ("fomaml", "reptile") and not inner.config.first_order:
            raise ConfigError(f"{algorithm} needs a first-order inner loop (first_order = true)")
        if algorithm == "reptile" and inner.config.step_size != "fixed":
            raise ConfigError("reptile cannot learn inner step sizes; use step_size = 'fixed'")
        if algorithm == "reptile" and inner.config.rule == "learned":
            raise ConfigError("reptile cannot meta-train a learned inner rule; use rule = 'sgd'")
        if optimizer not in ("adam", "sgd"):
            raise ConfigError(f"unknown outer optimizer {optimizer!r}; choose 'adam' or 'sgd'")
        self.params = params
        self.inner = inner
        self.algorithm = algorithm
        self.vectorize = vectorize
        trained = list(params.values()) + list(inner.parameters())
        optimizer_class = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
        self.optimizer = optimizer_class(trained, lr=outer_lr)

    def step(
        self,
        support_loss: TaskLoss,
        query_fn: QueryFn,
        support: Any,
        query: Any,
        step_weights: Tensor | None = None,
    ) -> dict[str, float]:
        """One outer update from a meta-batch; returns the mean query loss and metrics.

        ``step_weights``: MAML++'s multi-step loss weights (see :func:`meta_objective`).
        """
        self.optimizer.zero_grad(set_to_none=True)
        if self.algorithm == "reptile":
            with torch.no_grad():
                adapted = self.inner.adapt_tasks(
                    self.params, support_loss, support, vectorize=self.vectorize
                )
                losses, metrics = map_tasks(
                    lambda p, q: query_fn(self.inner.at_step(p, self.inner.config.steps), q),
                    (adapted, query),
                    (True, True),
                    self.vectorize,
                )
                for name, delta in reptile_direction(self.params, adapted).items():
                    self.params[name].grad = -delta
        elif self.vectorize:
            losses, metrics = meta_objective(
                self.params, self.inner, support_loss, query_fn, support, query, True, step_weights
            )
            losses.mean().backward()
        else:

            def task_loss(task: int) -> tuple[Tensor, dict[str, Tensor]]:
                task_support, task_query = tree_index(support, task), tree_index(query, task)
                return task_objective(
                    self.params,
                    self.inner,
                    support_loss,
                    query_fn,
                    task_support,
                    task_query,
                    step_weights,
                )

            n_tasks = leading_size([support, query])
            losses, metrics = backward_task_by_task(task_loss, n_tasks)
        self.optimizer.step()
        summary = {"loss": losses.mean().item()}
        summary.update({name: value.float().mean().item() for name, value in metrics.items()})
        return summary

    def state_dict(self) -> dict[str, Any]:
        """Optimizer and learned step-size state, for checkpoints."""
        return {"optimizer": self.optimizer.state_dict(), "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.inner.load_state_dict(state["inner"])
