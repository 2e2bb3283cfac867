"""Many environments of one family, over several tasks, stepped together in one process.

:class:`BatchedSimulator` is the sampler's view of a family: ``num_envs`` environments in
task-major order, one ``reset`` and one ``step`` call for all of them. It runs a family on the
fastest backend that can (its ``backend``, or the one named here):

- "navigation": Navigation2D on the vectorized :func:`~metarl.envs.navigation.navigation_step`;
- "mujoco_batch": the shipped v5 robots on :class:`~metarl.envs.mujoco_batch.MujocoBatch`, with
  their observations and rewards vectorized (MuJoCo >= 4);
- "generic_mujoco": any ``MujocoEnv`` on
  :class:`~metarl.envs.generic_mujoco.GenericMujocoBatch`: light copies of one env, each
  stepped by its own ``step`` on a thread pool, or, for an env with the vectorized hook, physics
  in one threaded ``mujoco.batch`` call and the hook for all envs (MuJoCo >= 4);
- "gym": any env with the task protocol, :class:`~metarl.envs.gym_backend.GymEnvBatch`.

"auto" (a user family's default) picks "generic_mujoco" for a ``MujocoEnv`` and "gym" otherwise;
without ``mujoco.batch`` (MuJoCo 3.x) a family whose own backend is "mujoco_batch" runs on
"generic_mujoco". With ``workers > 1`` the envs are split into that many shards, each run on the
backend in a worker process (:class:`~metarl.envs.worker_shards.ShardedBackend`): the way to use
several cores for envs whose ``step`` is Python.
Each backend reproduces the family's Gymnasium env step for step (``tests/envs/test_batched.py``,
``tests/envs/test_registry.py``).
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.utils import seeding

from metarl.envs.families import BACKENDS, Family, check_task_protocol, get_family, validate_task
from metarl.envs.generic_mujoco import GenericMujocoBatch
from metarl.envs.gym_backend import GymEnvBatch
from metarl.envs.mujoco_batch import MujocoBatch, has_mujoco_batch
from metarl.envs.navigation import NavigationBatch
from metarl.envs.tasks import Task
from metarl.envs.worker_shards import ShardedBackend
from metarl.errors import TaskError

Backend = NavigationBatch | MujocoBatch | GenericMujocoBatch | GymEnvBatch | ShardedBackend


def choose_backend(family: Family, requested: str | None = None) -> str:
    """The backend that runs ``family``: ``requested``, else the family's, resolved if "auto".

    A family's own "mujoco_batch" falls back to "generic_mujoco" on MuJoCo 3.x; one requested here
    does not (its constructor then says it needs MuJoCo >= 4).
    """
    name = requested or family.backend
    if name not in BACKENDS:
        raise TaskError(f"unknown simulator backend {name!r}; choose one of {list(BACKENDS)}")
    if name == "auto":
        is_mujoco = issubclass(family.env_class(), MujocoEnv)
        name = "generic_mujoco" if is_mujoco else "gym"
    if requested is None and name == "mujoco_batch" and not has_mujoco_batch():
        name = "generic_mujoco"
    return name


def make_backend(name: str, env_class: type, n_threads: int, tasks: list[Task]) -> Backend:
    """The backend ``name`` running one env of ``env_class`` per entry of ``tasks``."""
    if name == "navigation":
        return NavigationBatch(tasks)
    if name == "mujoco_batch":
        return MujocoBatch(env_class, tasks, n_threads)
    if name == "generic_mujoco":
        return GenericMujocoBatch(env_class, tasks, n_threads)
    return GymEnvBatch(env_class, tasks)


class BatchedSimulator:
    """``len(tasks) · envs_per_task`` environments of ``family``; env ``i`` runs
    ``tasks[i // envs_per_task]``.

    Seeding: ``reset(seed)`` draws env ``i``'s reset noise from ``seeding.np_random(seed + i)``,
    the generator Gymnasium's ``env.reset(seed=seed + i)`` installs (and the seeds
    ``gymnasium.vector`` gives its envs), so env ``i`` starts where
    ``gymnasium.make(id).reset(seed=seed + i, options={"task": task})`` does. ``reset()`` without a
    seed continues each env's generator, as a Gymnasium env's ``reset()`` does; the first one
    seeds them from the constructor's ``seed``.

    Episodes: ``step`` advances every env that is not done. An env is done once it terminates or
    has run ``horizon`` steps (``truncated``, as Gymnasium's ``TimeLimit``); it then stays done,
    unstepped, with reward 0 and its last observation and flags, until the next ``reset``.

    Success: where the family's env reports ``info["success"]`` (Meta-World), :attr:`success`
    says per env whether its current episode has succeeded at some step; it is None for families
    that report none (the backends that step the env's own ``step`` read it: "gym" and
    "generic_mujoco").

    Args:
        family: the task family (see :func:`metarl.envs.list_families`).
        tasks: the tasks, each of ``family``.
        envs_per_task: environments per task.
        seed: seeds the first ``reset()`` without a seed.
        horizon: episode length limit; the family's registered ``max_episode_steps`` if None.
        n_threads: threads that step the MuJoCo envs (MuJoCo's, or the pool that runs the
            envs' own ``step`` on the generic backend); all cores if None (or 0), 1 per worker
            if None with ``workers > 1``.
        backend: the backend to use (see the module docstring); the family's choice if None.
        workers: processes that step shards of the envs; 1 steps them in this process.
    """

    def __init__(
        self,
        family: str,
        tasks: list[Task],
        envs_per_task: int,
        seed: int = 0,
        horizon: int | None = None,
        n_threads: int | None = None,
        backend: str | None = None,
        workers: int = 1,
    ) -> None:
        spec = get_family(family)
        if not tasks:
            raise TaskError("a batched simulator needs at least one task")
        if envs_per_task < 1:
            raise TaskError(f"envs_per_task must be at least 1, got {envs_per_task}")
        if workers < 1:
            raise TaskError(f"workers must be at least 1, got {workers}")
        for task in tasks:
            validate_task(task, family)
        self.horizon = spec.max_episode_steps if horizon is None else horizon
        if self.horizon < 1:
            raise TaskError(f"horizon must be at least 1, got {self.horizon}")
        env_tasks = [task for task in tasks for _ in range(envs_per_task)]
        self.num_envs = len(env_tasks)
        self.backend = choose_backend(spec, backend)
        env_class = spec.env_class()
        check_task_protocol(env_class)
        if workers > 1:
            build = functools.partial(make_backend, self.backend, env_class, n_threads or 1)
            self._envs: Backend = ShardedBackend(build, env_tasks, workers)
        else:
            self._envs = make_backend(self.backend, env_class, n_threads or 0, env_tasks)
        self.observation_dim: int = self._envs.observation_dim
        self.action_low: np.ndarray = self._envs.action_low
        self.action_high: np.ndarray = self._envs.action_high
        self.action_dim: int = self.action_low.shape[0]
        self._seed = seed
        self._rngs: list[np.random.Generator] | None = None
        self._obs = np.zeros((self.num_envs, self.observation_dim))
        self._steps = 0
        self._terminated = np.zeros(self.num_envs, dtype=bool)
        self._truncated = np.zeros(self.num_envs, dtype=bool)
        self._success = np.zeros(self.num_envs, dtype=bool)
        self._reports_success = False

    @property
    def success(self) -> np.ndarray | None:
        """Per env, whether ``info["success"]`` was true at any step of its current episode;
        None while no env of the family has reported ``info["success"]``."""
        return self._success.copy() if self._reports_success else None

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset every environment; return the observations ``[num_envs, observation_dim]``."""
        if seed is not None or self._rngs is None:
            first = self._seed if seed is None else seed
            self._rngs = [seeding.np_random(first + i)[0] for i in range(self.num_envs)]
        self._steps = 0
        self._terminated[:] = False
        self._truncated[:] = False
        self._success[:] = False
        self._obs = self._envs.reset(self._rngs)
        return self._obs.copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step the environments that are not done with ``actions`` ``[num_envs, action_dim]``.

        Returns:
            observations ``[num_envs, observation_dim]``, rewards ``[num_envs]`` (0 for envs
            that were already done), and the ``terminated`` and ``truncated`` flags.
        """
        if self._rngs is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, self.action_dim):
            raise ValueError(
                f"actions must have shape {(self.num_envs, self.action_dim)}, got {actions.shape}"
            )
        alive = ~(self._terminated | self._truncated)
        if not alive.any():
            return self._obs.copy(), np.zeros(self.num_envs), *self._flags()
        obs, reward, terminated, success = self._envs.step(actions, alive)
        if success is not None:
            self._reports_success = True
            self._success |= alive & success
        self._steps += 1
        self._obs = np.where(alive[:, None], obs, self._obs)
        self._terminated |= alive & terminated
        self._truncated |= alive & (self._steps >= self.horizon)
        return self._obs.copy(), np.where(alive, reward, 0.0), *self._flags()

    def _flags(self) -> tuple[np.ndarray, np.ndarray]:
        return self._terminated.copy(), self._truncated.copy()
