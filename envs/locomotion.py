"""Reward-varying locomotion families on Gymnasium's v5 HalfCheetah and Ant.

Each env subclasses the v5 env and replaces only the forward term of its reward (``_get_rew``);
the dynamics, observations, reset noise and termination are v5's. The forward terms and cost
weights are those of the MAML reference code (cbfinn/maml_rl ``rllab/envs/mujoco/*_rand*.py``) as
ported by tristandeleu/pytorch-maml-rl (``maml_rl/envs/mujoco/{half_cheetah,ant}.py``).

``task_reward(params, x_velocity, xy_position)`` is written for arrays, so the batched simulator
computes the same term for all of its environments at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from metarl.envs.task_env import TaskEnvMixin

Params = Mapping[str, Any]


class _HalfCheetahTaskEnv(TaskEnvMixin, HalfCheetahEnv):
    """HalfCheetah-v5 with reward ``task_reward − 0.05·‖a‖²`` (pytorch-maml-rl's 0.5·1e-1)."""

    env_kwargs: ClassVar[dict[str, Any]] = {"ctrl_cost_weight": 0.05}

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        raise NotImplementedError

    def _get_rew(self, x_velocity: float, action: np.ndarray) -> tuple[float, dict[str, float]]:
        forward = self.task_reward(self.task_params, x_velocity, None)
        ctrl_cost = self.control_cost(action)
        return forward - ctrl_cost, {"reward_forward": forward, "reward_ctrl": -ctrl_cost}


class HalfCheetahVelEnv(_HalfCheetahTaskEnv):
    """Half-cheetah running at a target velocity (MAML, Finn et al. 2017, section 5.3).

    Reward ``−|v_x − velocity| − 0.05·‖a‖²`` with ``v_x`` v5's forward velocity; ``velocity`` is
    drawn from U[0, 2]. Source: pytorch-maml-rl ``HalfCheetahVelEnv``.
    """

    family = "HalfCheetahVel"

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        return -np.abs(x_velocity - params["velocity"])


class HalfCheetahDirEnv(_HalfCheetahTaskEnv):
    """Half-cheetah running forward (+1) or backward (−1) (MAML, section 5.3).

    Reward ``direction·v_x − 0.05·‖a‖²``. Source: pytorch-maml-rl ``HalfCheetahDirEnv``.
    """

    family = "HalfCheetahDir"

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        return params["direction"] * x_velocity


class _AntTaskEnv(TaskEnvMixin, AntEnv):
    """Ant-v5 with the reference's costs and survive bonus around a task's forward term.

    Reward ``task_reward + 0.05·healthy − 0.005·‖a‖² − 0.0005·‖clip(cfrc_ext, −1, 1)‖²``: the
    reference's ``0.5·1e-2`` control cost (its action scaling is 1 for v5's ``[−1, 1]`` controls),
    ``0.5·1e-3`` contact cost and 0.05 survive reward. The survive reward is paid while healthy,
    as v5 does, so it is 0 on the step that terminates (the reference pays it there too). The
    episode ends when the torso leaves ``0.2 ≤ z ≤ 1.0`` (both). Observations are v5's default:
    ``qpos[2:]``, ``qvel`` and the clipped ``cfrc_ext`` of bodies 1.. (105 numbers).
    """

    env_kwargs: ClassVar[dict[str, Any]] = {
        "ctrl_cost_weight": 0.005,
        "contact_cost_weight": 0.0005,
        "healthy_reward": 0.05,
    }

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        raise NotImplementedError

    def _get_rew(self, x_velocity: float, action: np.ndarray) -> tuple[float, dict[str, float]]:
        xy_position = self.data.body(self._main_body).xpos[:2]
        forward = self.task_reward(self.task_params, x_velocity, xy_position)
        healthy_reward = self.healthy_reward
        ctrl_cost = self.control_cost(action)
        contact_cost = self.contact_cost
        reward = forward + healthy_reward - (ctrl_cost + contact_cost)
        return reward, {
            "reward_forward": forward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
            "reward_survive": healthy_reward,
        }


class AntVelEnv(_AntTaskEnv):
    """Ant running along x at a target velocity (MAML, section 5.3).

    Forward term ``−|v_x − velocity| + 1`` (the reference's "make it happy" offset), ``velocity``
    from U[0, 3]. Sources: cbfinn/maml_rl ``ant_env_rand.py``, pytorch-maml-rl ``AntVelEnv``.
    """

    family = "AntVel"

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        return -np.abs(x_velocity - params["velocity"]) + 1.0


class AntDirEnv(_AntTaskEnv):
    """Ant running forward (+1) or backward (−1) along x (MAML, section 5.3).

    Forward term ``direction·v_x``. Sources: cbfinn/maml_rl ``ant_env_rand_direc.py``,
    pytorch-maml-rl ``AntDirEnv``.
    """

    family = "AntDir"

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        return params["direction"] * x_velocity


class AntGoalEnv(_AntTaskEnv):
    """Ant walking to a goal position in the plane.

    Forward term ``−‖xy − goal‖₁ + 4`` with ``xy`` the torso position v5 reads for its velocity;
    goals from U[−3, 3]². Source: cbfinn/maml_rl ``ant_env_rand_goal.py``.
    """

    family = "AntGoal"

    @staticmethod
    def task_reward(params: Params, x_velocity: Any, xy_position: Any) -> Any:
        return -np.sum(np.abs(xy_position - params["goal"]), axis=-1) + 4.0
