"""Per-task policy-gradient losses: the inner REINFORCE loss and the outer surrogate.

Each loss sees one task's :class:`~metarl.agents.episodes.Episodes` (no task dimension), so the
core can vmap it over a meta-batch. Averages run over the masked (taken) time steps, as in the
vanilla policy gradient of rllab and the MAML reference code (``−mean_t log π(a_t|s_t) A_t``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from metarl.agents.episodes import Episodes
from metarl.agents.policies import gaussian_kl, gaussian_log_prob
from metarl.core import Params, TaskLoss

PolicyFn = Callable[[Params, Tensor], tuple[Tensor, Tensor]]
"""``policy_fn(params, observations) -> (mean, log_std)`` for one task."""


class ActionDistribution(NamedTuple):
    """The Gaussian of a policy on a batch of observations."""

    mean: Tensor
    log_std: Tensor


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over the steps where ``mask`` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def reinforce_loss(policy_fn: PolicyFn) -> TaskLoss:
    """The inner loss ``−mean_t log π_θ(a_t|s_t) A_t``, whose gradient is the REINFORCE
    estimate with baseline (Williams 1992; pytorch-maml-rl ``reinforce_loss``)."""

    def loss(params: Params, episodes: Episodes) -> Tensor:
        mean, log_std = policy_fn(params, episodes.observations)
        log_probs = gaussian_log_prob(mean, log_std, episodes.actions)
        return -masked_mean(log_probs * episodes.advantages, episodes.mask)

    return loss


class SurrogateQuery(NamedTuple):
    """The query data of the outer objective: post-adaptation episodes and, once known, the
    action distribution that sampled them (``None`` means: the current policy, detached)."""

    episodes: Episodes
    old: ActionDistribution | None = None


def surrogate(
    policy_fn: PolicyFn, clip: float | None = None
) -> Callable[[Params, SurrogateQuery], tuple[Tensor, dict[str, Tensor]]]:
    """The outer objective of one task as a core ``QueryFn``: the importance-sampled surrogate
    ``−mean_t r_t A_t`` with ``r_t = π(a_t|s_t)/π_old(a_t|s_t)`` (TRPO, Schulman et al. 2015), or
    PPO's clipped version ``−mean_t min(r_t A_t, clip(r_t, 1±ε) A_t)`` when ``clip`` is set.

    Metrics: ``kl`` = mean_t KL(π_old ‖ π) (differentiable, for TRPO's Fisher products) and the
    current distribution's ``mean`` and ``log_std`` (to become ``old`` in later evaluations).
    """

    def query_fn(params: Params, query: SurrogateQuery) -> tuple[Tensor, dict[str, Tensor]]:
        episodes = query.episodes
        mean, log_std = policy_fn(params, episodes.observations)
        old = query.old
        if old is None:
            old = ActionDistribution(mean.detach(), log_std.detach())
        log_ratio = gaussian_log_prob(mean, log_std, episodes.actions) - gaussian_log_prob(
            old.mean, old.log_std, episodes.actions
        )
        ratio = torch.exp(log_ratio)
        objective = ratio * episodes.advantages
        if clip is not None:
            clipped = torch.clamp(ratio, 1 - clip, 1 + clip) * episodes.advantages
            objective = torch.minimum(objective, clipped)
        kl = masked_mean(gaussian_kl(old.mean, old.log_std, mean, log_std), episodes.mask)
        loss = -masked_mean(objective, episodes.mask)
        return loss, {"kl": kl, "mean": mean.detach(), "log_std": log_std.detach()}

    return query_fn
