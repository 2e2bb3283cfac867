"""Rollouts of a meta-batch as task-batched tensors, and their returns and GAE advantages.

Every tensor has the layout ``[tasks, episodes, T, ...]`` with a ``mask`` that is 1 on the steps
actually taken, so per-task losses can be vmapped over tasks (pytorch-maml-rl ``episode.py`` keeps
one padded batch per task instead).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from metarl.agents.baseline import fit_linear_baseline


class Episodes(NamedTuple):
    """Rollouts of every task of a meta-batch (a pytree, so it can be vmapped over tasks).

    Attributes:
        observations: ``[tasks, E, T, obs_dim]``.
        actions: ``[tasks, E, T, act_dim]`` as sampled (before clipping to the action bounds).
        rewards: ``[tasks, E, T]``; 0 after an episode ended.
        mask: ``[tasks, E, T]``; 1 where a step was taken.
        advantages: ``[tasks, E, T]``; filled by :func:`with_advantages`.
        success: ``[tasks, E]``; 1 where the episode's env reported ``info["success"]`` at some
            step (Meta-World's success), else 0; NaN for a family whose envs report no success.
    """

    observations: Tensor
    actions: Tensor
    rewards: Tensor
    mask: Tensor
    advantages: Tensor
    success: Tensor

    def episode_returns(self) -> Tensor:
        """Undiscounted return of each episode, ``[tasks, E]``."""
        return (self.rewards * self.mask).sum(-1)

    def success_rates(self) -> Tensor | None:
        """Fraction of each task's episodes that succeeded, ``[tasks]``; None for a family whose
        envs report no success."""
        if torch.isnan(self.success).all():
            return None
        return self.success.mean(-1)

    def steps(self) -> int:
        """Number of environment steps taken."""
        return int(self.mask.sum().item())


def discount_matrix(steps: int, discount: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """``M[s, t] = discount^(s − t)`` for ``s ≥ t`` (else 0), so ``x @ M`` is the discounted
    cumulative sum ``y_t = Σ_{s≥t} discount^(s−t) x_s`` along the last dimension."""
    index = torch.arange(steps, dtype=dtype)
    lag = index.view(-1, 1) - index.view(1, -1)
    return torch.where(lag >= 0, torch.tensor(discount, dtype=dtype) ** lag.clamp(min=0), 0.0)


def discounted_returns(rewards: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """Returns-to-go ``R_t = Σ_{s≥t} γ^(s−t) r_s`` on the masked steps (0 elsewhere)."""
    matrix = discount_matrix(rewards.shape[-1], gamma, rewards.dtype)
    return ((rewards * mask) @ matrix) * mask


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalised advantage estimates (Schulman et al. 2016) on the masked steps.

    ``δ_t = r_t + γ V(s_{t+1}) − V(s_t)`` with ``V = 0`` after the last step (the horizon is part
    of the task, as in rllab and pytorch-maml-rl), and ``A_t = Σ_{s≥t} (γλ)^(s−t) δ_s``.
    """
    values = values * mask
    next_values = torch.nn.functional.pad(values[..., 1:], (0, 1))
    deltas = (rewards + gamma * next_values - values) * mask
    return (deltas @ discount_matrix(rewards.shape[-1], gamma * lam, rewards.dtype)) * mask


def normalize_per_task(advantages: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """Centre and scale each task's advantages over its masked steps (rllab ``center_adv``)."""
    dims = tuple(range(1, advantages.dim()))
    count = mask.sum(dims, keepdim=True).clamp(min=1)
    mean = (advantages * mask).sum(dims, keepdim=True) / count
    var = ((advantages - mean).pow(2) * mask).sum(dims, keepdim=True) / count
    return (advantages - mean) / (var.sqrt() + eps) * mask


def with_advantages(
    episodes: Episodes, gamma: float, gae_lambda: float, baseline_reg: float = 1e-5
) -> Episodes:
    """Fit each task's linear baseline to its returns, then fill in normalised GAE advantages."""
    returns = discounted_returns(episodes.rewards, episodes.mask, gamma)
    values = fit_linear_baseline(episodes.observations, returns, episodes.mask, baseline_reg)
    advantages = gae(episodes.rewards, values, episodes.mask, gamma, gae_lambda)
    return episodes._replace(advantages=normalize_per_task(advantages, episodes.mask))
