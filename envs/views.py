"""The 2D-view hook: families whose episodes are best drawn as paths in the plane.

An env class opts in by defining a classmethod ``plane_view(task) -> PlaneView``
(:class:`~metarl.envs.navigation.Navigation2DEnv` does); ``metarl render`` then draws its episodes
as trajectory pictures instead of asking the env for camera frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium.envs.registration import load_env_creator


@dataclass(frozen=True)
class PlaneView:
    """How to draw one task's episodes in the plane.

    Attributes:
        axes: the observation entries that are the x and y coordinates.
        bounds: ``(x_min, x_max, y_min, y_max)`` of the picture (widened to fit the paths).
        goal: the point to mark, if the task has one.
    """

    axes: tuple[int, int]
    bounds: tuple[float, float, float, float]
    goal: tuple[float, float] | None = None

    def positions(self, observations: np.ndarray) -> np.ndarray:
        """The ``[T, 2]`` positions in a ``[T, obs_dim]`` sequence of observations."""
        return np.asarray(observations)[:, list(self.axes)]


def plane_view(env_id: str, task: Any) -> PlaneView | None:
    """The plane view of ``task`` if the env registered as ``env_id`` provides one, else None."""
    creator = load_env_creator(gymnasium.spec(env_id).entry_point)
    hook = getattr(creator, "plane_view", None)
    return None if hook is None else hook(task)
