"""Checks that rollouts are finite: a simulator that blew up (e.g. MuJoCo under huge forces)
must stop training with a clear message, not feed NaN observations or rewards to the learner."""

from __future__ import annotations

import torch

from metarl.agents.episodes import Episodes
from metarl.errors import NonFiniteError


def first_nonfinite(episodes: Episodes) -> tuple[str, int] | None:
    """The first field (``"observation"`` or ``"reward"``) and task whose values are NaN or
    infinite where a step was taken, or None when the rollouts are finite."""
    taken = episodes.mask.bool()
    bad_steps = {
        "observation": (~torch.isfinite(episodes.observations)).any(-1) & taken,
        "reward": ~torch.isfinite(episodes.rewards) & taken,
    }
    for name, bad in bad_steps.items():
        tasks = bad.flatten(1).any(1).nonzero()
        if len(tasks):
            return name, int(tasks[0, 0])
    return None


def check_episodes(episodes: Episodes, where: str) -> None:
    """Raise :class:`NonFiniteError` naming the field, ``where`` and the first task whose
    observations or rewards (where a step was taken) are NaN or infinite."""
    bad = first_nonfinite(episodes)
    if bad is not None:
        name, task = bad
        raise NonFiniteError(f"non-finite {name} from the simulator ({where}, task {task})")
