"""The inner loop: K steps of differentiable SGD on a task loss, over a chosen subset of parameters.

Step sizes are fixed (MAML, Finn et al. 2017), learned per parameter entry (Meta-SGD, Li et al.
2017) or learned per step and per tensor (MAML++ "LSLR", Antoniou et al. 2019). Instead of SGD
the update can be a learned rule, the coordinate-wise LSTM of Andrychowicz et al. 2016
(:mod:`metarl.core.learned_optimizer`), meta-trained with everything else by backpropagating
through the unrolled inner loop, optionally truncated every ``truncation`` steps; or Adam, as
in Reptile's inner loop (Nichol et al. 2018, with β1 = 0), started afresh on each task. Their
per-task state rides in the parameter dict under :data:`~metarl.core.params.STATE_PREFIX` keys,
so step-by-step callers need no change. Parameters named in ``per_step`` hold one entry per
inner step along a leading dimension (MAML++'s per-step batch-norm weights, "BNWB"): the model
sees entry ``j`` while its other parameters have had ``j`` updates (:meth:`InnerLoop.at_step`);
they are meta-learned, not adapted. With
``first_order`` the inner gradients are detached, which drops the second-order term of the
meta-gradient (first-order MAML). The loop knows nothing about the task: it sees parameters,
a loss ``task_loss(params, data) -> scalar`` and the data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree

from metarl.core.batching import map_tasks
from metarl.core.learned_optimizer import CoordinateLSTM
from metarl.core.params import (
    STATE_PREFIX,
    Params,
    leading_size,
    model_params,
    tree_index,
    tree_stack,
)
from metarl.errors import ConfigError

StepSizeKind = Literal["fixed", "per_parameter", "per_step"]
STEP_SIZE_KINDS: tuple[str, ...] = ("fixed", "per_parameter", "per_step")
UpdateRule = Literal["sgd", "learned", "adam"]
UPDATE_RULES: tuple[str, ...] = ("sgd", "learned", "adam")

TaskLoss = Callable[[Params, Any], Tensor]
"""``task_loss(params, data)``: a scalar loss of one task, differentiable in ``params``."""


class PerStep(tuple):
    """Inner-loop data with one entry per step (e.g. fresh rollouts of each adapted policy, or
    Reptile's minibatches); a pytree node, so a meta-batch of it maps over tasks."""


pytree.register_pytree_node(
    PerStep, lambda data: (list(data), None), lambda children, _: PerStep(children)
)


@dataclass(frozen=True)
class InnerLoopConfig:
    """How a task adapts.

    Attributes:
        steps: number of inner SGD steps K.
        lr: the (initial) inner step size α.
        step_size: "fixed" α; "per_parameter" learned α per parameter entry (Meta-SGD);
            "per_step" learned α per step and per tensor (MAML++).
        first_order: detach inner gradients (first-order MAML, also used by Reptile).
        adapt_only: name prefixes of the parameters that adapt (e.g. ``("head.",)`` for ANIL);
            empty means all parameters.
        rule: "sgd"; "learned" for the coordinate-wise LSTM optimizer (Andrychowicz et al.
            2016), which starts as SGD with step ``lr`` and learns a correction; or "adam",
            Adam with learning rate ``lr`` and fresh moments for each task.
        lstm_hidden: width of the learned rule's LSTM layers (20 in the paper).
        truncation: with the learned rule, detach the parameters and the LSTM state every
            ``truncation`` steps (truncated backpropagation through the unroll); 0: never.
        per_step: name prefixes of tensors with a leading step dimension, of which the model
            sees entry ``min(j, last)`` after ``j`` inner updates; they do not adapt.
        adam_betas: the inner Adam's (β1, β2); Reptile's code uses β1 = 0.
        adam_eps: the inner Adam's ε (added to the bias-corrected √v, as ``torch.optim.Adam``).
        adam_carry: the inner Adam's moments and step count carry over from task to task, as
            in supervised-reptile's code, whose optimizer state is never reset: in training
            (:meth:`InnerLoop.adapt_tasks`) each task starts from the state the previous one
            ended with, so tasks adapt one after another; every other adaptation (evaluation)
            starts from the carried state and leaves it as it is.
    """

    steps: int = 1
    lr: float = 0.01
    step_size: StepSizeKind = "fixed"
    first_order: bool = False
    adapt_only: tuple[str, ...] = ()
    rule: UpdateRule = "sgd"
    lstm_hidden: int = 20
    truncation: int = 0
    per_step: tuple[str, ...] = ()
    adam_betas: tuple[float, float] = (0.0, 0.999)
    adam_eps: float = 1e-8
    adam_carry: bool = False

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError(f"inner steps must be >= 0, got {self.steps}")
        if self.lr < 0:
            raise ConfigError(f"inner lr must be >= 0, got {self.lr}")
        if self.step_size not in STEP_SIZE_KINDS:
            raise ConfigError(
                f"unknown inner step_size {self.step_size!r}; choose one of {STEP_SIZE_KINDS}"
            )
        if self.rule not in UPDATE_RULES:
            raise ConfigError(f"unknown inner rule {self.rule!r}; choose one of {UPDATE_RULES}")
        if self.rule != "sgd" and self.step_size != "fixed":
            raise ConfigError(f"the {self.rule} inner rule has its own step; use step_size 'fixed'")
        if not all(0 <= beta < 1 for beta in self.adam_betas) or self.adam_eps <= 0:
            raise ConfigError(
                f"need 0 <= adam_betas < 1 and adam_eps > 0, got {self.adam_betas}, {self.adam_eps}"
            )
        if self.adam_carry and self.rule != "adam":
            raise ConfigError(f"adam_carry needs the adam inner rule, not {self.rule!r}")
        if self.lstm_hidden < 1 or self.truncation < 0:
            raise ConfigError(
                f"need lstm_hidden >= 1 and truncation >= 0, got {self.lstm_hidden}, "
                f"{self.truncation}"
            )


def adam_update(
    grad: Tensor,
    state: Tensor | None,
    count: int,
    lr: float,
    betas: tuple[float, float],
    eps: float,
) -> tuple[Tensor, Tensor]:
    """One Adam step as ``torch.optim.Adam`` takes it: ``(update, next state)``.

    ``state`` stacks the first and second moments ``[2, *grad.shape]`` (``None``: zeros) and
    ``count`` is the number of this step (1 for the first), for the bias corrections.
    """
    beta1, beta2 = betas
    m, v = (torch.zeros_like(grad), torch.zeros_like(grad)) if state is None else state.unbind(0)
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    denominator = (v / (1 - beta2**count)).sqrt() + eps
    return -lr / (1 - beta1**count) * m / denominator, torch.stack([m, v])


_CARRIED = "carried__"
"""Prefix of the buffers that hold the carried inner Adam state (``adam_carry``)."""


def _key(name: str) -> str:
    """``ParameterDict`` keys may not contain dots."""
    return name.replace(".", "__")


class InnerLoop(nn.Module):
    """Adapts parameters to one task by differentiable SGD; holds any learned step sizes.

    Example:
        >>> inner = InnerLoop(module_params(model), InnerLoopConfig(steps=5, lr=0.01))
        >>> adapted = inner.adapt(params, task_loss, support)          # one task
        >>> adapted = inner.adapt_tasks(params, task_loss, supports)    # a meta-batch
    """

    def __init__(self, params: Mapping[str, Tensor], config: InnerLoopConfig) -> None:
        super().__init__()
        self.config = config
        self.first_order = config.first_order
        """Detach inner gradients; starts as configured and may be switched during training
        (MAML++'s derivative-order annealing)."""
        self.adapted_names = [
            name
            for name in params
            if (not config.adapt_only or name.startswith(tuple(config.adapt_only)))
            and not self.is_per_step(name)
        ]
        if not self.adapted_names:
            raise ConfigError(
                f"adapt_only={list(config.adapt_only)} matches no parameter; "
                f"parameters are {list(params)}"
            )
        self.step_sizes = nn.ParameterDict()
        for name in self.adapted_names:
            if config.step_size == "per_parameter":
                init = torch.full_like(params[name].detach(), config.lr)
            elif config.step_size == "per_step":
                init = torch.full((max(config.steps, 1),), config.lr)
            else:
                continue
            self.step_sizes[_key(name)] = nn.Parameter(init)
        self.rule = (
            CoordinateLSTM(config.lr, config.lstm_hidden) if config.rule == "learned" else None
        )
        """The learned update rule, if any (Adam and SGD have no parameters)."""
        if config.adam_carry:  # buffers, so checkpoints keep them; zeros are fresh moments
            for name in self.adapted_names:
                moments = params[name].new_zeros(2, *params[name].shape)
                self.register_buffer(_CARRIED + _key(name), moments)
            self.register_buffer("carried_steps", torch.zeros((), dtype=torch.long))

    def is_per_step(self, name: str) -> bool:
        """Whether ``name`` holds one entry per inner step (see ``InnerLoopConfig.per_step``)."""
        return bool(self.config.per_step) and name.startswith(tuple(self.config.per_step))

    def at_step(self, params: Params, step: int) -> Params:
        """What the model sees after ``step`` inner updates: per-step tensors at entry ``step``
        (the last entry for steps beyond those trained), everything else unchanged."""
        if not self.config.per_step:
            return params
        return {
            name: p[min(step, p.shape[0] - 1)] if self.is_per_step(name) else p
            for name, p in params.items()
        }

    def step_size(self, name: str, step: int) -> Tensor | float:
        """α for parameter ``name`` at inner step ``step`` (per-step sizes reuse the last one
        for steps beyond those trained)."""
        if self.config.step_size == "fixed":
            return self.config.lr
        alpha = self.step_sizes[_key(name)]
        if self.config.step_size == "per_step":
            return alpha[min(step, alpha.shape[0] - 1)]
        return alpha

    def step(self, params: Params, task_loss: TaskLoss, data: Any, step: int = 0) -> Params:
        """One update of the adapted subset, ``θ' = θ − α ∇L(θ)`` or the learned rule's; vmappable.

        With the learned rule the returned dict also holds the rule's state for the next step.
        """
        params = self._truncate(params, step)
        adapted = {name: params[name] for name in self.adapted_names}
        weights = model_params(params)

        def loss_of_adapted(subset: Params) -> Tensor:
            return task_loss(self.at_step({**weights, **subset}, step), data)

        grads = torch.func.grad(loss_of_adapted)(adapted)
        updated = dict(params)
        for name, grad in grads.items():
            if self.first_order:
                grad = grad.detach()
            if self.config.rule == "sgd":
                updated[name] = adapted[name] - self.step_size(name, step) * grad
                continue
            key = STATE_PREFIX + name
            state = params.get(key)
            if self.rule is not None:
                state = self.rule.initial_state(grad) if state is None else state
                delta, updated[key] = self.rule(grad, state)
            else:
                config = self.config
                count = step + 1
                if config.adam_carry:
                    state = getattr(self, _CARRIED + _key(name)) if state is None else state
                    count += int(self.carried_steps)
                delta, updated[key] = adam_update(
                    grad, state, count, config.lr, config.adam_betas, config.adam_eps
                )
            updated[name] = adapted[name] + delta
        return updated

    def _truncate(self, params: Params, step: int) -> Params:
        """Detached parameters and state at the start of each truncation window but the first."""
        every = self.config.truncation
        if self.rule is None or not every or step == 0 or step % every:
            return params
        return {name: p.detach() for name, p in params.items()}

    def adapt(
        self, params: Params, task_loss: TaskLoss, data: Any, steps: int | None = None
    ) -> Params:
        """``steps`` (default: the configured K) inner steps on one task's data.

        ``data`` is reused at every step, unless it is a :class:`PerStep` with one entry per step.
        """
        return model_params(self._run(params, task_loss, data, steps))

    def _run(self, params: Params, task_loss: TaskLoss, data: Any, steps: int | None) -> Params:
        """The inner steps of :meth:`adapt`, returning the rule's state with the parameters."""
        steps = self.config.steps if steps is None else steps
        if isinstance(data, PerStep) and len(data) != steps:
            raise ValueError(f"PerStep data has {len(data)} entries for {steps} steps")
        for k in range(steps):
            params = self.step(params, task_loss, data[k] if isinstance(data, PerStep) else data, k)
        return params

    def adapt_tasks(
        self,
        params: Params,
        task_loss: TaskLoss,
        data: Any,
        steps: int | None = None,
        params_batched: bool = False,
        vectorize: bool = True,
    ) -> Params:
        """Adapt every task of a meta-batch (``data`` has a leading task dimension).

        Returns per-task adapted parameters (without inner-rule state) with a leading task
        dimension. ``params_batched``
        says whether ``params`` already differ per task (e.g. after earlier inner steps).
        With ``adam_carry`` the tasks adapt one after another, each from the inner Adam state
        the previous one left, which is kept for the next call.
        """
        if self.config.adam_carry:
            return self._adapt_carrying(params, task_loss, data, steps, params_batched)
        return map_tasks(
            lambda p, d: self.adapt(p, task_loss, d, steps),
            (params, data),
            (params_batched, True),
            vectorize,
        )

    def _adapt_carrying(
        self, params: Params, task_loss: TaskLoss, data: Any, steps: int | None, batched: bool
    ) -> Params:
        steps = self.config.steps if steps is None else steps
        adapted = []
        for task in range(leading_size([data])):
            start = tree_index(params, task) if batched else params
            final = self._run(start, task_loss, tree_index(data, task), steps)
            with torch.no_grad():
                for name in self.adapted_names:
                    getattr(self, _CARRIED + _key(name)).copy_(final[STATE_PREFIX + name])
                self.carried_steps += steps
            adapted.append(model_params(final))
        return tree_stack(adapted)

    def step_tasks(
        self,
        params: Params,
        task_loss: TaskLoss,
        data: Any,
        step: int,
        params_batched: bool,
        vectorize: bool = True,
    ) -> Params:
        """One inner step for every task of a meta-batch (see :meth:`adapt_tasks`)."""
        return map_tasks(
            lambda p, d: self.step(p, task_loss, d, step),
            (params, data),
            (params_batched, True),
            vectorize,
        )
