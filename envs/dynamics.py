"""Dynamics-varying families: Gymnasium v5 robots whose masses, inertias, damping and friction
are scaled per task, as rand_param_envs does (Rothfuss et al. 2019, ProMP).

The reward, observations, reset noise and termination are the v5 env's own; only the model
changes. See :mod:`metarl.envs.models` for how a task scales the model.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from metarl.envs.locomotion import Params
from metarl.envs.models import apply_dynamics, load_model
from metarl.envs.task_env import TaskEnvMixin
from metarl.envs.tasks import Task


class _DynamicsTaskMixin(TaskEnvMixin):
    """Scales the env's own model, in place, relative to the model compiled from its XML."""

    fullpath: str

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        """v5's forward reward at its default weight 1, ``v_x`` (the batched simulator's term)."""
        return x_velocity

    def _apply_task(self, task: Task) -> None:
        apply_dynamics(self.model, load_model(self.fullpath), task.params)


class HalfCheetahParamsEnv(_DynamicsTaskMixin, HalfCheetahEnv):
    """HalfCheetah-v5 with per-task dynamics; reward v5's ``v_x − 0.1·‖a‖²``."""

    family = "HalfCheetahParams"


class HopperParamsEnv(_DynamicsTaskMixin, HopperEnv):
    """Hopper-v5 with per-task dynamics; reward v5's ``v_x + healthy − 0.001·‖a‖²``."""

    family = "HopperParams"


class Walker2dParamsEnv(_DynamicsTaskMixin, Walker2dEnv):
    """Walker2d-v5 with per-task dynamics; reward v5's ``v_x + healthy − 0.001·‖a‖²``."""

    family = "Walker2dParams"


class AntParamsEnv(_DynamicsTaskMixin, AntEnv):
    """Ant-v5 with per-task dynamics; reward v5's
    ``v_x + healthy − 0.5·‖a‖² − 5e-4·‖clip(cfrc_ext, −1, 1)‖²``."""

    family = "AntParams"
