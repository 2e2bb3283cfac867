"""Many environments of one family, over several tasks, stepped together in one process.

:class:`BatchedSimulator` is the sampler's view of a family: ``num_envs`` environments in
task-major order, one ``reset`` and one ``step`` call for all of them. Navigation2D runs on the
vectorized :func:`~metarl.envs.navigation.navigation_step`; the MuJoCo families on
:class:`~metarl.envs.mujoco_batch.MujocoBatch`. Either reproduces the family's Gymnasium env step
for step (see ``tests/envs/test_batched.py``).
"""

from __future__ import annotations

import numpy as np
from gymnasium.envs.registration import load_env_creator
from gymnasium.utils import seeding

from metarl.envs.families import get_family, validate_task
from metarl.envs.mujoco_batch import MujocoBatch
from metarl.envs.navigation import NavigationBatch
from metarl.envs.tasks import Task
from metarl.errors import TaskError


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

    Args:
        family: the task family (see :func:`metarl.envs.list_families`).
        tasks: the tasks, each of ``family``.
        envs_per_task: environments per task.
        seed: seeds the first ``reset()`` without a seed.
        horizon: episode length limit; the family's registered ``max_episode_steps`` if None.
        n_threads: MuJoCo threads; all cores if None (or 0).
    """

    def __init__(
        self,
        family: str,
        tasks: list[Task],
        envs_per_task: int,
        seed: int = 0,
        horizon: int | None = None,
        n_threads: int | None = None,
    ) -> None:
        spec = get_family(family)
        if not tasks:
            raise TaskError("a batched simulator needs at least one task")
        if envs_per_task < 1:
            raise TaskError(f"envs_per_task must be at least 1, got {envs_per_task}")
        for task in tasks:
            validate_task(task, family)
        self.horizon = spec.max_episode_steps if horizon is None else horizon
        if self.horizon < 1:
            raise TaskError(f"horizon must be at least 1, got {self.horizon}")
        env_tasks = [task for task in tasks for _ in range(envs_per_task)]
        self.num_envs = len(env_tasks)
        if family == "Navigation2D":
            self._envs: NavigationBatch | MujocoBatch = NavigationBatch(env_tasks)
        else:
            env_class = load_env_creator(spec.entry_point)
            self._envs = MujocoBatch(env_class, env_tasks, n_threads or 0)
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

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset every environment; return the observations ``[num_envs, observation_dim]``."""
        if seed is not None or self._rngs is None:
            first = self._seed if seed is None else seed
            self._rngs = [seeding.np_random(first + i)[0] for i in range(self.num_envs)]
        self._steps = 0
        self._terminated[:] = False
        self._truncated[:] = False
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
        obs, reward, terminated = self._envs.step(actions, alive)
        self._steps += 1
        self._obs = np.where(alive[:, None], obs, self._obs)
        self._terminated |= alive & terminated
        self._truncated |= alive & (self._steps >= self.horizon)
        return self._obs.copy(), np.where(alive, reward, 0.0), *self._flags()

    def _flags(self) -> tuple[np.ndarray, np.ndarray]:
        return self._terminated.copy(), self._truncated.copy()
