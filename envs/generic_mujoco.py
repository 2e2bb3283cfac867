"""Any MuJoCo env of a family stepped on one threaded ``mujoco.batch`` call (MuJoCo >= 4).

The physics of every environment advances in one ``Batch.step`` call on a thread pool. The
observation, reward and termination then come from each env's own ``step``: every environment
is a light copy of the family's env with its own ``MjData``, whose ``do_simulation`` loads the
simulation's state from the batch (then runs ``mj_rnePostConstraint`` as Gymnasium does) instead
of simulating. The batch keeps each simulation's full integration state, so the results are
bit-identical to the plain Gymnasium env's.

Requirements on the env (those of Gymnasium's v5 envs): it is a ``MujocoEnv``; its ``step``
calls ``do_simulation(action, frame_skip)`` once with the action it was given; state kept in
Python attributes is per environment (copies share the attributes' objects until they are
reassigned, so an env must assign, not mutate, per-episode arrays). Otherwise use backend "gym".

The vectorized hook: an env class can skip the per-env Python of ``step`` by defining
``batched_fields`` (the ``MjData`` fields it reads, e.g. ``("qpos", "qvel", "xpos")``) and
``batched_step(fields, actions, params) -> (obs, reward, terminated)``, computing all envs'
transitions at once from ``fields`` (name → ``[num_envs, ...]`` arrays, after the step, derived
fields as ``mj_step`` leaves them), ``actions`` and ``params`` (task parameter name →
``[num_envs, ...]`` array). Resets still run each env's own ``reset``.
"""

from __future__ import annotations

import copy
from typing import Any

import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from metarl.envs.gym_backend import StepResult, step_each
from metarl.envs.mujoco_batch import family_env, mujoco_batch_module
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
        n_threads: threads of the batch, 0 for all cores.
    """

    def __init__(self, env_class: type, tasks: list[Task], n_threads: int) -> None:
        batch = mujoco_batch_module("generic_mujoco")
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
        self._frame_skip = template.frame_skip
        self._batch = batch.Batch(template.model, self.num_envs, nthread=n_threads, persistent=True)
        self._batch.set_models([env.model for env in self.envs])
        self._ctrl = self._batch.bind("ctrl")
        self._actions = np.zeros((self.num_envs, len(self.action_low)))  # of the current step
        for i, env in enumerate(self.envs):
            env.do_simulation = self._loader(i)
        self._template = template
        self._hook = callable(getattr(template, "batched_step", None))
        if self._hook:
            self._fields = {name: self._batch.bind(name) for name in template.batched_fields}
            self._params = {
                name: np.array([task.params[name] for task in tasks]) for name in tasks[0].params
            }

    def _loader(self, i: int) -> Any:
        """``env.do_simulation`` of environment ``i``: load the state the batch stepped to."""
        env = self.envs[i]

        def do_simulation(ctrl: np.ndarray, n_frames: int) -> None:
            if n_frames != self._frame_skip or not np.array_equal(ctrl, self._actions[i]):
                raise TaskError(
                    f"{type(env).__name__}.step must call do_simulation(action, frame_skip) with "
                    "the action it was given for the generic MuJoCo backend; use backend 'gym'"
                )
            self._batch.get_data(i, env.data)
            mujoco.mj_rnePostConstraint(env.model, env.data)

        return do_simulation

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Reset every env with its own ``reset`` and generator; copy the states to the batch."""
        obs = []
        for i, (env, rng) in enumerate(zip(self.envs, rngs, strict=True)):
            env.np_random = rng
            obs.append(np.ravel(env.reset()[0]))
            mujoco.mj_getState(env.model, env.data, self._batch.state[i], _STATE)
        self._batch.forward()
        return np.array(obs, dtype=np.float64)

    def step(self, actions: np.ndarray, alive: np.ndarray) -> StepResult:
        """Step the ``alive`` envs' physics in one batch call, then each env's own ``step``."""
        self._actions = actions  # as given: a float32 action's control cost is float32 too
        self._ctrl[:] = actions
        self._batch.step(None if alive.all() else alive, nstep=self._frame_skip)
        if self._hook:
            fields = {name: np.array(value) for name, value in self._fields.items()}
            obs, reward, terminated = self._template.batched_step(fields, actions, self._params)
            obs = np.asarray(obs, dtype=np.float64)
            return obs, np.asarray(reward), np.asarray(terminated), None
        return step_each(self.envs, self._actions, alive, self.observation_dim)
