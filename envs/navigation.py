"""2D navigation (Finn et al. 2017, "Model-Agnostic Meta-Learning", section 5.3)."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from metarl.envs.task_env import TaskEnvMixin
from metarl.envs.tasks import Task
from metarl.envs.views import PlaneView

MAX_ACTION = 0.1
GOAL_TOLERANCE = 0.01


def navigation_step(
    position: np.ndarray, action: np.ndarray, goal: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of any number of point robots, ``[..., 2]`` arrays.

    Returns:
        The new float32 positions, the rewards ``-‖position − goal‖`` and whether each robot is
        within ``GOAL_TOLERANCE`` of its goal on both axes (cbfinn/maml_rl ``point_env_randgoal``).
    """
    position = (position + np.clip(action, -MAX_ACTION, MAX_ACTION)).astype(np.float32)
    offset = position - goal
    reward = -np.sqrt(np.square(offset[..., 0]) + np.square(offset[..., 1]))
    terminated = np.all(np.abs(offset) < GOAL_TOLERANCE, axis=-1)
    return position, reward, terminated


class Navigation2DEnv(TaskEnvMixin, gymnasium.Env):
    """A point robot in the plane that must reach a goal (MAML's 2D navigation).

    The robot starts at the origin; its action is a displacement, clipped to ``[-0.1, 0.1]`` per
    axis; the reward is minus the Euclidean distance to the goal after the move, and the episode
    ends when the robot is within 0.01 of the goal on both axes. Goals are uniform in
    ``[-0.5, 0.5]^2``; the registration sets the horizon to 100 steps.

    Sources: Finn et al. 2017; cbfinn/maml_rl ``maml_examples/point_env_randgoal.py``;
    tristandeleu/pytorch-maml-rl ``maml_rl/envs/navigation.py``.

    Args:
        task: a ``Navigation2D`` task (default: goal at the origin).
    """

    family = "Navigation2D"
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, task: Task | None = None) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-MAX_ACTION, MAX_ACTION, shape=(2,), dtype=np.float32)
        self._position = np.zeros(2, dtype=np.float32)
        super().__init__(task)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed, options=options)
        self._position = np.zeros(2, dtype=np.float32)
        return self._position.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._position, reward, terminated = navigation_step(
            self._position, np.asarray(action), self.task_params["goal"]
        )
        return self._position.copy(), float(reward), bool(terminated), False, {}

    @classmethod
    def plane_view(cls, task: Task) -> PlaneView:
        """The 2D-view hook: the observation is the position; the goal is marked."""
        x, y = np.asarray(task.params["goal"], dtype=float)
        return PlaneView(axes=(0, 1), bounds=(-0.6, 0.6, -0.6, 0.6), goal=(float(x), float(y)))


class NavigationBatch:
    """Point robots of many Navigation2D tasks (one per entry of ``tasks``) stepped together.

    The batched counterpart of :class:`Navigation2DEnv`, for the batched simulator: every robot
    starts at the origin (there is no reset noise) and moves by :func:`navigation_step`.
    """

    def __init__(self, tasks: list[Task]) -> None:
        self.num_envs = len(tasks)
        self.observation_dim = 2
        self.action_low = np.full(2, -MAX_ACTION, dtype=np.float32)
        self.action_high = np.full(2, MAX_ACTION, dtype=np.float32)
        self._goals = np.array([task.params["goal"] for task in tasks], dtype=np.float64)
        self._position = np.zeros((self.num_envs, 2), dtype=np.float32)

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Put every robot back at the origin (``rngs`` are unused: the start is fixed)."""
        self._position = np.zeros((self.num_envs, 2), dtype=np.float32)
        return self._position.copy()

    def step(
        self, actions: np.ndarray, alive: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        """Move the ``alive`` robots; return observations, rewards and terminated flags (and no
        success flags: reaching the goal ends the episode)."""
        position, reward, terminated = navigation_step(self._position, actions, self._goals)
        self._position = np.where(alive[:, None], position, self._position)
        return self._position.copy(), reward, terminated, None
