"""A task family defined outside metarl: Reacher reaching a goal it cannot see.

Each task is a goal drawn uniformly from the disk of radius 0.2 around the arm's base (the disk
Reacher-v5 draws its goals from). Unlike Reacher-v5, the goal is the task's, not drawn at reset,
and it is removed from the observation (v5 shows the target's position and the fingertip-target
vector): the policy must infer the goal from rewards, as in MAML's 2D navigation. Observation:
``cos θ, sin θ`` of both joints, their velocities, and the fingertip's xy (8 numbers). Reward,
dynamics and reset noise of the arm are Reacher-v5's.

``batched_step`` is the generic MuJoCo backend's optional vectorized hook: the same observation and
reward for all environments at once, from the batch's arrays (``docs/envs.md``).

Use it with ``[env] plugins = ["reacher_goal.py"]`` (see ``reacher_goal_maml.toml`` here and
``docs/envs.md``, "Adding a task family").
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.envs.mujoco.reacher_v5 import ReacherEnv
from gymnasium.spaces import Box

from metarl.envs import Ball, Task, TaskEnvMixin, register_family


class ReacherGoalEnv(TaskEnvMixin, ReacherEnv):
    """Reacher-v5 whose target is the task's ``goal``, hidden from the observation."""

    family = "ReacherGoal"
    batched_fields: ClassVar[tuple[str, ...]] = ("qpos", "qvel", "xpos")

    def __init__(self, task: Task | None = None, **kwargs: Any) -> None:
        super().__init__(task, **kwargs)
        self.observation_space = Box(-np.inf, np.inf, shape=(8,), dtype=np.float64)

    def reset_model(self) -> np.ndarray:
        """v5's reset noise on the arm; the target at the task's goal."""
        qpos = self.init_qpos + self.np_random.uniform(-0.1, 0.1, size=self.model.nq)
        qpos[-2:] = self.task_params["goal"]
        qvel = self.init_qvel + self.np_random.uniform(-0.005, 0.005, size=self.model.nv)
        qvel[-2:] = 0
        self.set_state(qpos, qvel)
        return self._get_obs()

    def _get_obs(self) -> np.ndarray:
        theta = self.data.qpos[:2]
        fingertip = self.get_body_com("fingertip")[:2]
        return np.concatenate([np.cos(theta), np.sin(theta), self.data.qvel[:2], fingertip])

    def batched_step(
        self, fields: dict[str, np.ndarray], actions: np.ndarray, params: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``_get_obs`` and v5's ``_get_rew`` for every environment (Reacher never terminates)."""
        qpos, qvel, xpos = fields["qpos"], fields["qvel"], fields["xpos"]
        fingertip = xpos[:, self.model.body("fingertip").id]
        target = xpos[:, self.model.body("target").id]
        theta = qpos[:, :2]
        obs = np.concatenate([np.cos(theta), np.sin(theta), qvel[:, :2], fingertip[:, :2]], axis=1)
        distance = np.linalg.norm(fingertip - target, axis=1) * self._reward_dist_weight
        control = np.square(actions).sum(axis=1) * self._reward_control_weight
        return obs, -distance - control, np.zeros(len(obs), dtype=bool)


register_family(
    "ReacherGoal",
    ReacherGoalEnv,
    {"goal": Ball(radius=0.2, center=(0.0, 0.0))},
    horizon=50,
    description="Reacher-v5 reaching a hidden goal on the disk of radius 0.2",
)
