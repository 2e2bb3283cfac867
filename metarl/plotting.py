"""Adaptation-curve plots (PNG): mean ± 95% CI against the number of adaptation steps.

A curve may name its kind of x-axis (``x_axis``: "inner steps" for MAML-style adaptation,
"episodes of experience" for RL²); curves of different kinds are drawn against their
``experience_rollouts`` (episodes of the task seen before the point), a common axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

from metarl.errors import ConfigError  # noqa: E402

MAX_TICKS = 12
"""Up to this many x values each get a tick; more (training curves) get matplotlib's ticks."""


def plot_adaptation_curves(
    curves: Sequence[tuple[str, dict]],
    metric: str,
    out: Path,
    title: str = "",
) -> Path:
    """Draw each ``(label, curve)`` where ``curve`` has ``adaptation_steps``, ``mean``, ``ci95``.

    Returns the path written.
    """
    kinds = {curve.get("x_axis", "adaptation steps") for _, curve in curves}
    key, xlabel = ("adaptation_steps", kinds.pop()) if len(kinds) == 1 else _common_axis(curves)
    figure, axes = plt.subplots(figsize=(6, 4))
    for label, curve in curves:
        steps = curve[key]
        mean = curve["mean"]
        low = [m - c for m, c in zip(mean, curve["ci95"], strict=True)]
        high = [m + c for m, c in zip(mean, curve["ci95"], strict=True)]
        axes.plot(steps, mean, marker="o", label=label)
        axes.fill_between(steps, low, high, alpha=0.25)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(metric)
    if key == "experience_rollouts":
        axes.set_xscale("symlog", linthresh=1)
        axes.xaxis.set_major_formatter(ScalarFormatter())
    ticks = sorted({s for _, c in curves for s in c[key]})
    if len(ticks) <= MAX_TICKS:
        axes.set_xticks(ticks)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(title or f"{metric} after adaptation (mean ± 95% CI)")
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def _common_axis(curves: Sequence[tuple[str, dict]]) -> tuple[str, str]:
    """The x-axis shared by curves of different kinds: rollouts of experience."""
    missing = [label for label, curve in curves if "experience_rollouts" not in curve]
    if missing:
        raise ConfigError(
            f"curves {missing} have no experience_rollouts; re-run `metarl evaluate` on them"
        )
    return "experience_rollouts", "rollouts of experience (episodes of the task seen)"
