"""Summary statistics for reporting: mean and 95% confidence half-width, median, divergence.

A task's metric has *diverged* when it is NaN, infinite, or larger in magnitude than
``DIVERGENCE_BOUND``. Diverged tasks stay in the mean and CI (which then show it honestly, as
huge or NaN); the median beside them shows the typical task, and the count per adaptation step
says how many tasks broke.
"""

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


DIVERGENCE_BOUND = 1e6
"""A per-task metric beyond ±1e6 counts as diverged: no metric reported here (MSE on sinusoids,
accuracy, returns of the task families with their horizons) comes near it when training works."""


def diverged(values: np.ndarray) -> np.ndarray:
    """Which values are non-finite or beyond ``DIVERGENCE_BOUND`` in magnitude."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(values) | (np.abs(values) > DIVERGENCE_BOUND)


def summarize_curve(per_task: np.ndarray) -> dict[str, list[float] | list[int]]:
    """``per_task[task, step]`` → ``{"mean", "ci95", "median", "diverged"}`` at each step: mean,
    95% CI and median over all tasks, and the number of diverged tasks."""
    per_task = np.asarray(per_task, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        pairs = [mean_ci95(per_task[:, step]) for step in range(per_task.shape[1])]
        medians = np.median(per_task, axis=0)
    return {
        "mean": [m for m, _ in pairs],
        "ci95": [c for _, c in pairs],
        "median": [float(m) for m in medians],
        "diverged": [int(n) for n in diverged(per_task).sum(axis=0)],
    }


def divergence_warnings(result: dict) -> list[str]:
    """One line per adaptation step at which some tasks diverged (see ``summarize_curve``)."""
    n_tasks = result.get("n_tasks", "?")
    return [
        f"{count} of {n_tasks} tasks diverged after {step} adaptation steps (non-finite or "
        f"|{result['metric']}| > {DIVERGENCE_BOUND:g}); the mean and CI include them"
        for step, count in zip(result["adaptation_steps"], result.get("diverged", []), strict=False)
        if count
    ]
