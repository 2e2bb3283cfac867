"""MAML-RL and first-order MAML-RL with a TRPO or a PPO-clip outer step.

Finn et al. 2017 (§5.3, Algorithm 3) meta-train the initialisation θ of a policy so that one (or
K) vanilla policy-gradient step(s) on a task's rollouts give a good policy for that task; the outer
objective is the TRPO surrogate of the post-adaptation rollouts, differentiated through the inner
step(s) (pytorch-maml-rl ``metalearners/maml_trpo.py``). With a first-order inner loop the
meta-gradient is the surrogate's gradient at the adapted parameters (FOMAML). The PPO-clip outer
step (Schulman et al. 2017) replaces TRPO's constrained step by a few Adam epochs on the clipped
surrogate, as ProMP's and garage's MAML-PPO do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from metarl.agents.episodes import Episodes
from metarl.agents.losses import ActionDistribution, SurrogateQuery, reinforce_loss, surrogate
from metarl.agents.policies import TaskPolicies
from metarl.agents.trpo import (
    TRPOSettings,
    gaussian_fisher_product,
    kl_hessian_vector_product,
    trpo_step,
)
from metarl.core import InnerLoop, Params, PerStep, map_tasks
from metarl.errors import ConfigError

Outer = Literal["trpo", "ppo"]


@dataclass(frozen=True)
class PPOClipSettings:
    """The PPO-clip outer step.

    Attributes:
        lr: Adam learning rate of the meta-parameters.
        epochs: Adam steps per meta-batch, each re-adapting from the same support rollouts.
        clip: ε of the clipped ratio ``clip(r, 1 − ε, 1 + ε)``.
    """

    lr: float = 3e-4
    epochs: int = 5
    clip: float = 0.2

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.clip <= 0:
            raise ConfigError(f"outer_ppo needs lr > 0, epochs >= 1, clip > 0; got {self}")


class MAMLRL:
    """Meta-trains ``params`` (the policy's own tensors) from support and query rollouts.

    Args:
        params: the meta-parameters θ.
        inner: the core inner loop; ``first_order`` makes this first-order MAML.
        policies: the policy evaluated per task.
        outer: "trpo" (the MAML paper) or "ppo" (Adam on the clipped surrogate).
        trpo: TRPO settings.
        ppo: PPO-clip settings.
    """

    def __init__(
        self,
        params: Params,
        inner: InnerLoop,
        policies: TaskPolicies,
        outer: Outer = "trpo",
        trpo: TRPOSettings | None = None,
        ppo: PPOClipSettings | None = None,
    ) -> None:
        self.params = params
        self.inner = inner
        self.policies = policies
        self.outer = outer
        self.trpo = trpo or TRPOSettings()
        self.ppo = ppo or PPOClipSettings()
        self.support_loss = reinforce_loss(policies.call)
        clip = self.ppo.clip if outer == "ppo" else None
        self.query_fn = surrogate(policies.call, clip)
        self.optimizer = (
            torch.optim.Adam([*params.values(), *inner.parameters()], lr=self.ppo.lr)
            if outer == "ppo"
            else None
        )

    def objective(
        self, support: list[Episodes], query: SurrogateQuery
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-task surrogate losses ``[tasks]`` and metrics after adapting θ on ``support``
        (one batch of episodes per inner step), differentiable in θ through the inner loop."""

        def one_task(
            theta: Params,
            steps: tuple[Episodes, ...],
            episodes: Episodes,
            old: ActionDistribution | None,
        ) -> tuple[Tensor, dict[str, Tensor]]:
            adapted = self.inner.adapt(theta, self.support_loss, PerStep(steps))
            return self.query_fn(adapted, SurrogateQuery(episodes, old))

        return map_tasks(
            one_task,
            (self.params, tuple(support), query.episodes, query.old),
            (False, True, True, query.old is not None),
            self.policies.vectorize,
        )

    def step(self, support: list[Episodes], query: Episodes) -> dict[str, float]:
        """One outer update from a meta-batch; returns losses, KL and timings."""
        return self._trpo(support, query) if self.outer == "trpo" else self._ppo(support, query)

    def _trpo(self, support: list[Episodes], query: Episodes) -> dict[str, float]:
        started = time.perf_counter()
        losses, metrics = self.objective(support, SurrogateQuery(query))
        curvature = self.curvature(support, query, metrics["kl"].mean())
        forward_s = _since(started)
        old = ActionDistribution(metrics["mean"], metrics["log_std"])

        def evaluate() -> tuple[Tensor, Tensor]:
            new_losses, new_metrics = self.objective(support, SurrogateQuery(query, old))
            return new_losses.mean(), new_metrics["kl"].mean()

        result = trpo_step(
            list(self.params.values()), losses.mean(), curvature, evaluate, self.trpo
        )
        result["meta_grad_s"] = forward_s + result.pop("direction_s")
        return result

    def curvature(
        self, support: list[Episodes], query: Episodes, kl: Tensor | None = None
    ) -> Callable[[Tensor], Tensor]:
        """``v ↦ ∇²KL v`` at θ, the KL averaged over the first ``fisher_fraction`` of each task's
        query episodes, of the policy adapted on *all* support episodes.

        ``kl`` (the mean KL on every query episode, with its graph) saves a forward pass for the
        double-backward product when ``fisher_fraction`` is 1.
        """
        if self.trpo.fisher_fraction < 1:
            episodes = max(1, round(query.mask.shape[1] * self.trpo.fisher_fraction))
            query = _first_episodes(query, episodes)
        if self.trpo.fisher_product == "gauss_newton":
            outputs = self.adapted_policy(support, query.observations)
            return gaussian_fisher_product(outputs, self.params, query.mask)
        if kl is None or self.trpo.fisher_fraction < 1:
            kl = self.objective(support, SurrogateQuery(query))[1]["kl"].mean()
        return kl_hessian_vector_product(kl, list(self.params.values()))

    def adapted_policy(
        self, support: list[Episodes], observations: Tensor
    ) -> Callable[[Params], tuple[Tensor, Tensor]]:
        """``θ ↦ (mean, log_std)``, each ``[tasks, E, T, act_dim]``: the policy adapted from θ on
        each task's ``support`` (one batch per inner step), evaluated on ``observations``."""

        def one_task(
            theta: Params, steps: tuple[Episodes, ...], task_observations: Tensor
        ) -> tuple[Tensor, Tensor]:
            adapted = self.inner.adapt(theta, self.support_loss, PerStep(steps))
            return self.policies.call(adapted, task_observations)

        def outputs(theta: Params) -> tuple[Tensor, Tensor]:
            return map_tasks(
                one_task,
                (theta, tuple(support), observations),
                (False, True, True),
                self.policies.vectorize,
            )

        return outputs

    def _ppo(self, support: list[Episodes], query: Episodes) -> dict[str, float]:
        assert self.optimizer is not None
        started = time.perf_counter()
        old: ActionDistribution | None = None
        for epoch in range(self.ppo.epochs):
            losses, metrics = self.objective(support, SurrogateQuery(query, old))
            if epoch == 0:
                old = ActionDistribution(metrics["mean"], metrics["log_std"])
                loss_before = losses.mean().item()
            self.optimizer.zero_grad(set_to_none=True)
            losses.mean().backward()
            self.optimizer.step()
        with torch.no_grad():
            losses, metrics = self.objective(support, SurrogateQuery(query, old))
        return {
            "loss_before": loss_before,
            "loss_after": losses.mean().item(),
            "kl_after": metrics["kl"].mean().item(),
            "meta_grad_s": _since(started),
        }

    def state_dict(self) -> dict[str, Any]:
        """The outer optimizer's state (PPO's Adam moments, and a learned inner rule; TRPO keeps
        none)."""
        if self.optimizer is None:
            return {}
        return {"optimizer": self.optimizer.state_dict(), "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.inner.load_state_dict(state.get("inner", self.inner.state_dict()))


def _first_episodes(episodes: Episodes, n: int) -> Episodes:
    """The first ``n`` episodes of every task."""
    return Episodes(*(field[:, :n] for field in episodes))


def _since(started: float) -> float:
    return time.perf_counter() - started
