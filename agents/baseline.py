"""The linear feature baseline of rllab and the MAML reference code, fitted per task.

``V(s_t) = w·[s, s², t/100, (t/100)², (t/100)³, 1]`` with ``w`` the ridge-regularised least-squares
fit to the discounted returns of the task's own rollouts (Duan et al. 2016, rllab's
``LinearFeatureBaseline``; pytorch-maml-rl ``baseline.py``). The regulariser starts at ``reg`` and
grows tenfold, up to five times, for a task whose normal equations are not positive definite;
if they still are not (non-finite observations or returns, typically), the fit raises
:class:`BaselineFitError` rather than going on with a failed factorisation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from metarl.errors import MetarlError

ESCALATIONS = 5
"""How many times the ridge coefficient grows tenfold before the fit gives up."""


class BaselineFitError(MetarlError):
    """The linear baseline's normal equations stayed singular after every regularisation step."""


def baseline_features(observations: Tensor) -> Tensor:
    """Features of ``observations [..., T, obs_dim]``: ``[..., T, 2·obs_dim + 4]``."""
    steps = observations.shape[-2]
    time = torch.arange(steps, dtype=observations.dtype, device=observations.device) / 100.0
    time = time.view(*(1,) * (observations.dim() - 2), steps, 1).expand(*observations.shape[:-1], 1)
    return torch.cat(
        [observations, observations**2, time, time**2, time**3, torch.ones_like(time)], dim=-1
    )


def fit_linear_baseline(
    observations: Tensor, returns: Tensor, mask: Tensor, reg: float = 1e-5
) -> Tensor:
    """Per-task baseline values ``[tasks, E, T]`` fitted to ``returns`` on the masked steps.

    Args:
        observations: ``[tasks, E, T, obs_dim]``.
        returns: discounted returns-to-go ``[tasks, E, T]``.
        mask: ``[tasks, E, T]``, 1 where a step was taken.
        reg: initial ridge coefficient (rllab: 1e-5).
    """
    features = baseline_features(observations).double() * mask.double().unsqueeze(-1)
    flat = features.flatten(1, 2)  # [tasks, E·T, F]
    targets = (returns.double() * mask.double()).flatten(1, 2).unsqueeze(-1)
    gram = flat.transpose(1, 2) @ flat
    rhs = flat.transpose(1, 2) @ targets
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype)
    coefficient = torch.full((gram.shape[0], 1, 1), reg, dtype=gram.dtype)
    for _ in range(ESCALATIONS + 1):
        factor, info = torch.linalg.cholesky_ex(gram + coefficient * eye)
        failed = info != 0
        if not failed.any():
            break
        coefficient[failed] *= 10
    else:
        tasks = failed.nonzero().flatten().tolist()
        raise BaselineFitError(
            f"linear baseline fit failed for task(s) {tasks}: normal equations not positive "
            f"definite with ridge up to {reg * 10**ESCALATIONS:g} (non-finite observations or "
            f"returns?)"
        )
    weights = torch.cholesky_solve(rhs, factor)
    values = features @ weights.unsqueeze(1)  # [tasks, E, T, 1]
    return values.squeeze(-1).to(returns.dtype)
