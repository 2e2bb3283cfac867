"""Adaptation-curve plots (PNG): mean ± 95% CI against the number of adaptation steps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_adaptation_curves(
    curves: Sequence[tuple[str, dict]],
    metric: str,
    out: Path,
    title: str = "",
) -> Path:
    """Draw each ``(label, curve)`` where ``curve`` has ``adaptation_steps``, ``mean``, ``ci95``.

    Returns the path written.
    """
    figure, axes = plt.subplots(figsize=(6, 4))
    for label, curve in curves:
        steps = curve["adaptation_steps"]
        mean = curve["mean"]
        low = [m - c for m, c in zip(mean, curve["ci95"], strict=True)]
        high = [m + c for m, c in zip(mean, curve["ci95"], strict=True)]
        axes.plot(steps, mean, marker="o", label=label)
        axes.fill_between(steps, low, high, alpha=0.25)
    axes.set_xlabel("adaptation steps")
    axes.set_ylabel(metric)
    axes.set_xticks(sorted({s for _, c in curves for s in c["adaptation_steps"]}))
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(title or f"{metric} after adaptation (mean ± 95% CI)")
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out
