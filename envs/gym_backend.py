"""The Gymnasium fallback: any env with the task protocol, one instance per environment, stepped
in a loop. It runs every family, on any MuJoCo version (and without MuJoCo).

Each environment is the family's env class built with its defaults, given its task with
``set_task`` and its reset generator as ``np_random`` (what ``reset(seed=seed + i)`` installs),
so it is the plain Gymnasium env. Instances are kept per env class and reused by later batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import gymnasium
import numpy as np

from metarl.envs.tasks import Task

_POOLS: dict[Callable[..., gymnasium.Env], list[gymnasium.Env]] = {}


def _instances(env_class: Callable[..., gymnasium.Env], n: int) -> list[gymnasium.Env]:
    """``n`` instances of ``env_class`` (built on first need, then reused)."""
    pool = _POOLS.setdefault(env_class, [])
    while len(pool) < n:
        pool.append(env_class())
    return pool[:n]


class GymEnvBatch:
    """The environments of ``tasks`` (one per entry) as plain Gymnasium envs.

    Args:
        env_class: the family's env class (it has ``set_task``).
        tasks: the task of each environment.
    """

    def __init__(self, env_class: Callable[..., gymnasium.Env], tasks: list[Task]) -> None:
        self.envs = _instances(env_class, len(tasks))
        for env, task in zip(self.envs, tasks, strict=True):
            env.set_task(task)
        first = self.envs[0]
        self.num_envs = len(tasks)
        self.observation_dim: int = int(np.prod(first.observation_space.shape))
        self.action_low: np.ndarray = first.action_space.low
        self.action_high: np.ndarray = first.action_space.high

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Reset every env with its generator."""
        obs = []
        for env, rng in zip(self.envs, rngs, strict=True):
            env.np_random = rng
            obs.append(np.ravel(env.reset()[0]))
        return np.array(obs, dtype=np.float64)

    def step(self, actions: np.ndarray, alive: np.ndarray) -> StepResult:
        """Step the ``alive`` envs (see :func:`step_each`)."""
        return step_each(self.envs, actions, alive, self.observation_dim)


StepResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]
"""A backend step: observations, rewards, terminated flags, and ``info["success"]`` per env
(None when no env reports one)."""


@functools.cache
def _pool(n_threads: int) -> ThreadPoolExecutor:
    """One thread pool per thread count, shared by every batch of the process."""
    return ThreadPoolExecutor(n_threads, thread_name_prefix="metarl-env")


def step_each(
    envs: list[gymnasium.Env],
    actions: np.ndarray,
    alive: np.ndarray,
    observation_dim: int,
    n_threads: int = 1,
) -> StepResult:
    """Step the ``alive`` envs with their own ``step``; the others' values are zeros (the
    simulator ignores them). An env's own truncation is ignored: the family's horizon ends
    episodes. ``info["success"]`` is read where an env reports it (Meta-World does).

    With ``n_threads > 1`` the envs are split into that many contiguous chunks, each stepped in
    order on a thread of a pool. The Python of ``step`` still runs one env at a time (the GIL),
    but MuJoCo releases the GIL while it simulates, so one env's physics overlaps other envs'
    Python and physics. Each env touches only its own state, so the results do not depend on the
    thread count.
    """
    n = len(envs)
    obs = np.zeros((n, observation_dim))
    reward = np.zeros(n)
    terminated = np.zeros(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    reported = np.zeros(n, dtype=bool)

    def step_chunk(indices: np.ndarray) -> None:
        for i in indices:
            env_obs, reward[i], terminated[i], _, info = envs[i].step(actions[i])
            obs[i] = np.ravel(env_obs)
            if "success" in info:
                reported[i] = True
                success[i] = bool(info["success"])

    indices = np.flatnonzero(alive)
    if n_threads > 1 and len(indices) > 1:
        chunks = np.array_split(indices, min(n_threads, len(indices)))
        for _ in _pool(n_threads).map(step_chunk, chunks):  # re-raises an env's exception
            pass
    else:
        step_chunk(indices)
    return obs, reward, terminated, success if reported.any() else None
