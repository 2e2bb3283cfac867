"""Checks that rollouts are finite: a simulator that blew up (e.g. MuJoCo under huge forces)
must stop training with a clear message, not feed NaN observations or rewards to the learner."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from metarl.agents.episodes import Episodes
from metarl.errors import NonFiniteError


def check_episodes(episodes: Sequence[Episodes], where: str) -> None:
    """Raise :class:`NonFiniteError` naming the field, the adaptation step and the first task
    whose observations or rewards (where a step was taken) are NaN or infinite."""
    for step, batch in enumerate(episodes):
        taken = batch.mask.bool()
        bad_steps = {
            "observation": (~torch.isfinite(batch.observations)).any(-1) & taken,
            "reward": ~torch.isfinite(batch.rewards) & taken,
        }
        for name, bad in bad_steps.items():
            tasks = bad.flatten(1).any(1).nonzero()
            if len(tasks):
                raise NonFiniteError(
                    f"non-finite {name} from the simulator "
                    f"({where}, adaptation step {step}, task {int(tasks[0, 0])})"
                )
