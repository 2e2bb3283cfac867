"""Test-time step-size schedules for few-rollout adaptation.

The MAML paper evaluates its locomotion policies with an inner step of 0.1 for the first step and
0.05 for the later ones (Finn et al. 2017, appendix A.2; ``eval.inner_lr = [0.1, 0.05]``), and
tunes the step size of its baselines (``eval.baseline_lr_grid``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from metarl.core import InnerLoop, InnerLoopConfig


def scheduled(inner: InnerLoop, schedule: Sequence[float]) -> InnerLoop:
    """A copy of ``inner`` whose step ``k`` takes step size ``schedule[min(k, len − 1)]``
    (same first-order setting and adapted parameters, fixed sizes, no learned ones)."""
    if not schedule:
        return inner
    config = InnerLoopConfig(
        steps=len(schedule),
        lr=float(schedule[0]),
        step_size="per_step",
        first_order=inner.config.first_order,
        adapt_only=inner.config.adapt_only,
    )
    params = {name: torch.empty(0) for name in inner.adapted_names}
    loop = InnerLoop(params, config)
    with torch.no_grad():
        for alpha in loop.step_sizes.values():
            alpha.copy_(torch.tensor(schedule, dtype=alpha.dtype))
    return loop.requires_grad_(False)
