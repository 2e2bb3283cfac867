"""Summary statistics for reporting: mean and 95% confidence half-width."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_Z975 = 1.959963984540054


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom.

    Exact for 1 and 2 degrees of freedom, otherwise the Cornish–Fisher expansion of
    Abramowitz & Stegun 26.7.5 (error below 1e-3 from 3 degrees of freedom up).
    """
    if dof < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {dof}")
    if dof == 1:
        return math.tan(math.pi * 0.475)
    if dof == 2:
        return 4.302652729911275
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3 + g4 / dof**4


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError("no values to summarise")
    mean = float(array.mean())
    if array.size == 1:
        return mean, 0.0
    sem = float(array.std(ddof=1)) / math.sqrt(array.size)
    return mean, t_quantile_975(array.size - 1) * sem


def summarize_curve(per_task: np.ndarray) -> dict[str, list[float]]:
    """``per_task[task, step]`` → ``{"mean": [...], "ci95": [...]}`` over tasks at each step."""
    pairs = [mean_ci95(per_task[:, step]) for step in range(per_task.shape[1])]
    return {"mean": [m for m, _ in pairs], "ci95": [c for _, c in pairs]}
