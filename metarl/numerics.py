"""Finite-value checks of what a meta-iteration produced: scalars, parameters, optimizer state.

The training loop calls :func:`nonfinite_quantity` after each iteration; a non-finite value is
named so that the user sees which quantity broke (a loss, a return, a gradient statistic or a
parameter), not just a NaN in a metrics file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from metarl.stats import DIVERGENCE_BOUND

CHECKED_SCALARS = ("loss", "return", "grad", "kl", "mse")
"""A logged scalar is checked when the last part of its tag contains one of these words (other
scalars, e.g. Stable-Baselines3's explained variance, may legitimately be NaN)."""

SCALAR_KINDS = {"return": "return", "loss": "loss", "grad": "gradient"}
"""How a checked scalar is named in the error, by the first word its tag contains."""

GRADIENT_STATE = ("exp_avg", "momentum_buffer", "grad")
"""Optimizer-state entries that are running statistics of gradients (Adam, SGD momentum)."""


def nonfinite_quantity(scalars: dict[str, float], state: dict[str, Any]) -> str | None:
    """The first non-finite (or diverged) quantity of an iteration, described in words, or None.

    Order: logged losses and returns, then gradient statistics in optimizer state, then
    parameters (a NaN gradient reaches all three; the first names its origin best). A finite
    meta-training loss beyond ``DIVERGENCE_BOUND`` in magnitude counts as diverged.
    """
    for tag, value in scalars.items():
        name = tag.split("/")[-1]
        if not any(word in name for word in CHECKED_SCALARS):
            continue
        kind = next((kind for word, kind in SCALAR_KINDS.items() if word in name), "value")
        if not math.isfinite(value):
            return f"non-finite {kind} {tag} = {value}"
        if tag.startswith("meta_train/") and kind == "loss" and abs(value) > DIVERGENCE_BOUND:
            return f"diverged {kind} {tag} = {value:.3g} (beyond ±{DIVERGENCE_BOUND:g})"
    tensors = [(path, t) for path, t in float_tensors(state) if not bool(t.isfinite().all())]
    for path, _ in tensors:
        if any(word in path.split(".")[-1] for word in GRADIENT_STATE):
            return f"non-finite gradient (optimizer state {path})"
    if tensors:
        return f"non-finite parameter {tensors[0][0]}"
    return None


def float_tensors(state: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every floating-point tensor in a nested state dict, with its dotted path."""
    if isinstance(state, torch.Tensor):
        if state.is_floating_point():
            yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from float_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(state, list | tuple):
        for index, value in enumerate(state):
            yield from float_tensors(value, f"{prefix}.{index}" if prefix else str(index))
