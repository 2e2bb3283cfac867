"""Any MuJoCo env of a family, as light copies of one instance, on any MuJoCo version.

Every environment is a light copy of the family's env (built once per process) with its own
``MjData``, on one model per task: no XML is compiled per environment.

Without a hook, each env runs its own ``step`` (observation, reward, termination and physics are
the env's own code, so trajectories are bit-identical to the plain Gymnasium env's) on a pool of
threads: MuJoCo releases the GIL while it simulates, so the envs' physics runs in parallel while
their Python takes turns (:func:`~metarl.envs.gym_backend.step_each`). This needs no
``mujoco.batch`` and works on MuJoCo 3.x too. State kept in Python attributes must be per
environment (copies share the attributes' objects until they are reassigned, so an env must
assign, not mutate, per-episode arrays).

The vectorized hook (MuJoCo >= 4): an env class can skip the per-env Python of ``step`` by
defining ``batched_fields`` (the ``MjData`` fields it reads, e.g. ``("qpos", "qvel", "xpos")``) and
``batched_step(fields, actions, params) -> (obs, reward, terminated)``, computing all envs'
transitions at once from ``fields`` (name → ``[num_envs, ...]`` arrays, after the step, derived
fields as ``mj_step`` leaves them), ``actions`` and ``params`` (task parameter name →
``[num_envs, ...]`` array). The physics of every environment then advances in one threaded
``mujoco.batch`` call. Resets still run each env's own ``reset``. On MuJoCo 3.x (no
``mujoco.batch``) the hook is not used and each env's own ``step`` runs.
"""

from __future__ import annotations

import copy
import os

import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from metarl.envs.gym_backend import StepResult, step_each
from metarl.envs.mujoco_batch import family_env, has_mujoco_batch, mujoco_batch_module
from metarl.envs.tasks import Task
from metarl.errors import TaskError

_STATE = mujoco.mjtState.mjSTATE_INTEGRATION


def _light_copy(env: MujocoEnv, model: mujoco.MjModel) -> MujocoEnv:
    """A new instance sharing ``env``'s attributes, on ``model`` with a fresh ``MjData``.

    Built without ``__init__`` (no XML compile) and without pickling (EzPickle would rebuild it).
    """
    clone = object.__new__(type(env))
    clone.__dict__.update(env.__dict__)
    clone.model = model
    clone.data = mujoco.MjData(model)
    return clone


class GenericMujocoBatch:
    """The environments of ``tasks`` (one per entry), any ``MujocoEnv`` with ``set_task``.

    Args:
        env_class: the family's env class.
        tasks: the task of each environment.
        n_threads: threads that step the envs (the batch's with the hook), 0 for all cores.
    """

    def __init__(self, env_class: type, tasks: list[Task], n_threads: int) -> None:
        template = family_env(env_class)
        if not isinstance(template, MujocoEnv):
            raise TaskError(f"{env_class.__name__} is not a MujocoEnv; use backend 'gym'")
        protos = {}
        for task in dict.fromkeys(tasks):  # one model per task: set_task may change the model
            proto = _light_copy(template, copy.copy(template.model))
            proto.set_task(task)
            protos[task] = proto
        self.envs = [_light_copy(protos[task], protos[task].model) for task in tasks]
        self.num_envs = len(tasks)
        self.observation_dim: int = int(np.prod(template.observation_space.shape))
        self.action_low: np.ndarray = template.action_space.low
        self.action_high: np.ndarray = template.action_space.high
        self.n_threads = n_threads or os.cpu_count() or 1
        self._template = template
        self._batch = None
        if has_batched_hook(env_class) and has_mujoco_batch():
            batch = mujoco_batch_module("generic_mujoco")
            self._batch = batch.Batch(
                template.model, self.num_envs, nthread=n_threads, persistent=True
            )
            self._batch.set_models([env.model for env in self.envs])
            self._ctrl = self._batch.bind("ctrl")
            self._fields = {name: self._batch.bind(name) for name in template.batched_fields}
            self._params = {
                name: np.array([task.params[name] for task in tasks]) for name in tasks[0].params
            }

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Reset every env with its own ``reset`` and generator (copied to the batch, if any)."""
        obs = []
        for i, (env, rng) in enumerate(zip(self.envs, rngs, strict=True)):
            env.np_random = rng
            obs.append(np.ravel(env.reset()[0]))
            if self._batch is not None:
                mujoco.mj_getState(env.model, env.data, self._batch.state[i], _STATE)
        if self._batch is not None:
            self._batch.forward()
        return np.array(obs, dtype=np.float64)

    def step(self, actions: np.ndarray, alive: np.ndarray) -> StepResult:
        """Step the ``alive`` envs: each env's own ``step`` on the thread pool, or, with the
        hook, their physics in one batch call and the hook for all of them."""
        if self._batch is None:
            return step_each(self.envs, actions, alive, self.observation_dim, self.n_threads)
        self._ctrl[:] = actions
        self._batch.step(None if alive.all() else alive, nstep=self._template.frame_skip)
        fields = {name: np.array(value) for name, value in self._fields.items()}
        obs, reward, terminated = self._template.batched_step(fields, actions, self._params)
        return np.asarray(obs, dtype=np.float64), np.asarray(reward), np.asarray(terminated), None


def has_batched_hook(env_class: type) -> bool:
    """Whether ``env_class`` has the vectorized hook (``batched_step`` and ``batched_fields``)."""
    return callable(getattr(env_class, "batched_step", None))
