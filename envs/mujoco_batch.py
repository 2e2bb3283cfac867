"""Many MuJoCo envs of one family stepped together on a thread pool (``mujoco.batch``).

Each environment is one simulation of a ``mujoco.batch.Batch``; every step is one threaded call
that advances all live simulations by the env's ``frame_skip`` substeps. The batch keeps each
simulation's full integration state, solver warm start included, so the trajectories are
bit-identical to those of the Gymnasium env. Observations, rewards and termination are vectorized
ports of the v5 envs' own code, read from the batch's state rows and derived fields, with the
family's ``task_reward``.
"""

from __future__ import annotations

import functools
import types

import gymnasium
import mujoco
import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from metarl.envs.models import load_model, task_model
from metarl.envs.tasks import Task
from metarl.errors import TaskError

_SUPPORTED = (AntEnv, HalfCheetahEnv, HopperEnv, Walker2dEnv)


def mujoco_batch_module(backend: str) -> types.ModuleType:
    """``mujoco.batch``, imported on first use; TaskError naming ``backend`` on MuJoCo < 4."""
    try:
        from mujoco import batch
    except ImportError:
        raise TaskError(
            f"the {backend} backend needs MuJoCo >= 4 (mujoco.batch); this is MuJoCo "
            f"{mujoco.__version__}: use backend 'gym' (the Gymnasium fallback) or upgrade MuJoCo"
        ) from None
    return batch


def has_mujoco_batch() -> bool:
    """Whether this MuJoCo has ``mujoco.batch`` (MuJoCo >= 4)."""
    try:
        mujoco_batch_module("")
    except TaskError:
        return False
    return True


@functools.cache
def family_env(env_class: type) -> gymnasium.Env:
    """One default instance per family, built once per process (building one compiles its XML)."""
    return env_class()


class MujocoBatch:
    """The environments of ``tasks`` (one per entry) on one ``mujoco.batch.Batch``.

    Args:
        env_class: the family's Gymnasium env class; one instance, built with its defaults, gives
            the constants (cost weights, health ranges, ``frame_skip``) and draws reset noise.
        tasks: the task of each environment.
        n_threads: threads of the batch, 0 for all cores.
    """

    def __init__(self, env_class: type, tasks: list[Task], n_threads: int) -> None:
        self.env = env = family_env(env_class)
        if not isinstance(env, _SUPPORTED):
            raise TypeError(f"{env_class.__name__} is not a v5 robot the batch supports")
        self.num_envs = len(tasks)
        self.observation_dim: int = env.observation_space.shape[0]
        self.action_low: np.ndarray = env.action_space.low
        self.action_high: np.ndarray = env.action_space.high
        self._ant = isinstance(env, AntEnv)
        base = load_model(env.fullpath)
        models = {task: task_model(base, task.params) for task in set(tasks)}
        self._models = [models[task] for task in tasks]
        # Ant reads contact forces from each simulation's MjData after its step: keep them all.
        batch = mujoco_batch_module("mujoco_batch")
        self._batch = batch.Batch(base, self.num_envs, nthread=n_threads, persistent=self._ant)
        if any(model is not base for model in models.values()):
            self._batch.set_models(self._models)
        self._qpos = self._batch.bind("qpos")
        self._qvel = self._batch.bind("qvel")
        self._ctrl = self._batch.bind("ctrl")
        self._xpos = self._batch.bind("xpos")
        self._ncon = self._batch.bind("ncon")
        self._params = {
            name: np.array([task.params[name] for task in tasks]) for name in tasks[0].params
        }
        self._cfrc_ext = np.zeros((self.num_envs, *env.data.cfrc_ext.shape))
        self._scratch = mujoco.MjData(base)

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Reset every environment with v5's reset noise drawn from its generator."""
        self._batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
        for i, rng in enumerate(rngs):
            self.env.np_random = rng
            self.env.reset_model()
            self._qpos[i] = self.env.data.qpos
            self._qvel[i] = self.env.data.qvel
        self._batch.forward()
        self._cfrc_ext[:] = 0.0  # mj_resetData clears them and mj_forward does not compute them
        return self._observe()

    def step(
        self, actions: np.ndarray, alive: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        """Advance the ``alive`` environments one env step; return obs, rewards, terminated (and
        no success flags: the locomotion families have none).

        The values of the other environments are meaningless: their state is not advanced.
        """
        ids = None if alive.all() else alive
        before = self._position()
        self._ctrl[:] = actions
        self._batch.step(ids, nstep=self.env.frame_skip)
        if self._ant:
            self._update_contact_forces(alive)
        position = self._position()
        velocity = (position - before) / self.env.dt
        healthy = self._healthy()
        reward = self._reward(actions, velocity, position, healthy)
        terminated = ~healthy & bool(getattr(self.env, "_terminate_when_unhealthy", False))
        return self._observe(), reward, terminated, None

    def _update_contact_forces(self, stepped: np.ndarray) -> None:
        """``cfrc_ext`` as v5 computes it: ``mj_rnePostConstraint`` after ``mj_step``.

        No batched call runs it there (a force sensor would run it in the first of the step's
        RK4 stages, v5 runs it on the data the last stage leaves), so each simulation's MjData is
        fetched and it runs here. Without contacts the
        forces are zero (Ant has no applied forces or equality constraints), so only the
        simulations in contact are fetched.
        """
        touching = stepped & (self._ncon > 0)
        self._cfrc_ext[stepped & ~touching] = 0.0
        for i in np.flatnonzero(touching):
            self._batch.get_data(int(i), self._scratch)
            mujoco.mj_rnePostConstraint(self._models[i], self._scratch)
            self._cfrc_ext[i] = self._scratch.cfrc_ext

    def _position(self) -> np.ndarray:
        """What v5 differentiates for its velocity: the main body's xy (Ant) or ``qpos[0]``."""
        if self._ant:
            return self._xpos[:, self.env._main_body, :2].copy()
        return self._qpos[:, 0].copy()

    def _contact_forces(self) -> np.ndarray:
        low, high = self.env._contact_force_range
        return np.clip(self._cfrc_ext, low, high)

    def _observe(self) -> np.ndarray:
        """v5's ``_get_obs`` with its default options, for every environment."""
        qpos, qvel = self._qpos, self._qvel
        if self._ant:
            contact = self._contact_forces()[:, 1:].reshape(self.num_envs, -1)
            return np.concatenate([qpos[:, 2:], qvel, contact], axis=1)
        if isinstance(self.env, HopperEnv | Walker2dEnv):
            return np.concatenate([qpos[:, 1:], np.clip(qvel, -10, 10)], axis=1)
        return np.concatenate([qpos[:, 1:], qvel], axis=1)

    def _healthy(self) -> np.ndarray:
        """v5's ``is_healthy`` for every environment (HalfCheetah is always healthy)."""
        env, qpos = self.env, self._qpos
        if isinstance(env, HalfCheetahEnv):
            return np.ones(self.num_envs, dtype=bool)
        if self._ant:
            z_low, z_high = env._healthy_z_range
            finite = np.isfinite(qpos).all(axis=1) & np.isfinite(self._qvel).all(axis=1)
            return finite & (z_low <= qpos[:, 2]) & (qpos[:, 2] <= z_high)
        z, angle = qpos[:, 1], qpos[:, 2]
        z_low, z_high = env._healthy_z_range
        angle_low, angle_high = env._healthy_angle_range
        healthy = (z_low < z) & (z < z_high) & (angle_low < angle) & (angle < angle_high)
        if isinstance(env, HopperEnv):
            state = np.concatenate([qpos, self._qvel], axis=1)[:, 2:]
            state_low, state_high = env._healthy_state_range
            healthy &= np.all((state_low < state) & (state < state_high), axis=1)
        return healthy

    def _reward(
        self, actions: np.ndarray, velocity: np.ndarray, position: np.ndarray, healthy: np.ndarray
    ) -> np.ndarray:
        """``(forward + healthy reward) − (control cost + contact cost)``, in v5's order."""
        env = self.env
        x_velocity = velocity[:, 0] if self._ant else velocity
        forward = env.task_reward(self._params, x_velocity, position)
        healthy_reward = healthy * getattr(env, "_healthy_reward", 0.0)
        ctrl_cost = env._ctrl_cost_weight * np.sum(np.square(actions), axis=1)
        contact_cost = 0.0
        if self._ant:
            squares = np.square(self._contact_forces()).reshape(self.num_envs, -1)
            contact_cost = env._contact_cost_weight * np.sum(squares, axis=1)
        return forward + healthy_reward - (ctrl_cost + contact_cost)
