"""Summary statistics for reporting: mean and 95% confidence half-width."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom.

    Solves ``CDF(t) = 0.975`` by bisection, integrating the density with Simpson's rule
    (accurate to about 1e-6 for every ``dof``).
    """
    if dof < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {dof}")
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def mass_from_zero(t: float) -> float:
        x = np.linspace(0.0, t, 4001)
        density = np.exp(log_norm - (dof + 1) / 2 * np.log1p(x**2 / dof))
        h = t / 4000
        return (
            h
            / 3
            * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum())
        )

    low, high = 0.0, 20.0
    while mass_from_zero(high) < 0.475:
        low, high = high, 2 * high
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if mass_from_zero(middle) < 0.475 else (low, middle)
    return (low + high) / 2


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
