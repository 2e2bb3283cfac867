"""Rollouts of a whole meta-batch from one batched simulator, actions from one vmapped policy call.

pytorch-maml-rl (``samplers/multi_task_sampler.py``) runs a vectorised env per task in worker
processes; here one :class:`~metarl.envs.BatchedSimulator` steps the envs of all tasks together,
and the actions of all tasks come from one ``vmap``-ed call of the per-task policies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from metarl.agents.episodes import Episodes
from metarl.agents.policies import TaskPolicies
from metarl.core import Params
from metarl.envs.action_scaling import env_action


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run the block (or decorated function) on ``n`` torch threads, then restore the number."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Simulator(Protocol):
    """What the sampler needs of :class:`metarl.envs.BatchedSimulator` (envs in task-major
    order; an env that is done stays done, with reward 0, until the next reset). A ``success``
    attribute (per env, or None) is read if present: see :func:`episode_success`."""

    num_envs: int
    observation_dim: int
    action_dim: int
    action_low: np.ndarray
    action_high: np.ndarray

    def reset(self, seed: int | None = None) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(observations, rewards, terminated, truncated)``."""
        ...


def episode_success(simulator: Simulator) -> np.ndarray:
    """Per env, 1.0 if its episode succeeded at some step, else 0.0, read from the simulator's
    ``success`` (:attr:`metarl.envs.BatchedSimulator.success`); NaN where there is none."""
    success = getattr(simulator, "success", None)
    if success is None:
        return np.full(simulator.num_envs, np.nan)
    return np.asarray(success, dtype=np.float64)


class EpisodeSampler(Protocol):
    """What adaptation needs of a sampler: :class:`RolloutSampler`, or the Ray backend's
    :class:`~metarl.agents.ray_sampler.RaySampler` (the same episodes, sampled elsewhere)."""

    def sample(
        self,
        policies: TaskPolicies,
        params: Params,
        params_batched: bool,
        rng: np.random.Generator,
    ) -> Episodes: ...


class RolloutSeeds(NamedTuple):
    """The random streams of one sampling call, drawn from the caller's generator.

    Attributes:
        noise: seeds the torch generator of the action noise of the whole meta-batch.
        reset: env ``i`` of the meta-batch (task-major) resets with seed ``reset + i``.
    """

    noise: int
    reset: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> RolloutSeeds:
        """Two draws from ``rng``: the noise seed, then the reset seed."""
        noise = int(rng.integers(2**63))
        return cls(noise, int(rng.integers(2**31)))


class Shard(NamedTuple):
    """Tasks ``first .. first + count − 1`` of a meta-batch of ``total`` tasks."""

    first: int
    count: int
    total: int


class RolloutSampler:
    """Samples ``rollouts`` episodes of length ≤ ``horizon`` for each of ``n_tasks`` tasks.

    Args:
        simulator: holds ``n_tasks · rollouts`` envs, task-major.
        n_tasks: tasks of the meta-batch.
        horizon: maximum episode length T.
        action_scale: policy units per control unit; the env receives
            ``clip(a / action_scale, low, high)`` (:func:`metarl.envs.action_scaling.env_action`)
            while the episodes keep the sampled ``a``.
    """

    def __init__(
        self, simulator: Simulator, n_tasks: int, horizon: int, action_scale: float = 1.0
    ) -> None:
        if simulator.num_envs % n_tasks:
            raise ValueError(f"{simulator.num_envs} envs cannot be split among {n_tasks} tasks")
        self.simulator = simulator
        self.n_tasks = n_tasks
        self.rollouts = simulator.num_envs // n_tasks
        self.horizon = horizon
        self.action_scale = action_scale

    def sample(
        self,
        policies: TaskPolicies,
        params: Params,
        params_batched: bool,
        rng: np.random.Generator,
    ) -> Episodes:
        """One batch of episodes per task, acting with ``params`` (per task if batched).

        The env seeds and the action noise come from ``rng`` alone (:class:`RolloutSeeds`).
        """
        shard = Shard(0, self.n_tasks, self.n_tasks)
        return self.sample_shard(policies, params, params_batched, RolloutSeeds.draw(rng), shard)

    @torch.no_grad()
    @_torch_threads(1)
    def sample_shard(
        self,
        policies: TaskPolicies,
        params: Params,
        params_batched: bool,
        seeds: RolloutSeeds,
        shard: Shard,
    ) -> Episodes:
        """The episodes of ``shard``'s tasks (this sampler's), exactly as sampling the whole
        meta-batch with ``seeds`` gives them: each step draws the noise of every task and keeps
        the shard's rows. ``params`` (if batched) are the shard's. A shard of the meta-batch runs
        to the horizon (the whole batch stops once all its envs are done; see
        :func:`after_last_step_zeroed`).

        The policy runs on one torch thread: its forward pass is small, and idle torch threads
        would spin on the cores that MuJoCo's threads step on.
        """
        if shard.count != self.n_tasks:
            raise ValueError(f"a shard of {shard.count} tasks on a {self.n_tasks}-task sampler")
        sim, shape = self.simulator, (self.n_tasks, self.rollouts)
        rows = slice(shard.first, shard.first + shard.count)
        whole_batch = shard.count == shard.total
        generator = torch.Generator().manual_seed(seeds.noise)
        obs = _tensor(sim.reset(seed=seeds.reset + shard.first * self.rollouts))
        horizon, act_dim = self.horizon, sim.action_dim
        observations = torch.zeros(horizon, sim.num_envs, sim.observation_dim)
        actions = torch.zeros(horizon, sim.num_envs, act_dim)
        rewards = torch.zeros(horizon, sim.num_envs)
        mask = torch.zeros(horizon, sim.num_envs)
        alive = torch.ones(sim.num_envs, dtype=torch.bool)
        for t in range(horizon):
            mean, log_std = policies(params, obs.view(*shape, -1), params_batched)
            noise = torch.randn((shard.total, *mean.shape[1:]), generator=generator)[rows]
            action = (mean + torch.exp(log_std) * noise).reshape(sim.num_envs, act_dim)
            observations[t], actions[t], mask[t] = obs, action, alive.float()
            control = env_action(action.numpy(), self.action_scale, sim.action_low, sim.action_high)
            next_obs, reward, terminated, truncated = sim.step(control)
            rewards[t] = _tensor(reward) * alive
            alive &= ~torch.as_tensor(np.logical_or(terminated, truncated))
            obs = _tensor(next_obs)
            if whole_batch and not alive.any():
                break

        return Episodes(
            observations=_task_major(observations, shape),
            actions=_task_major(actions, shape),
            rewards=_task_major(rewards, shape),
            mask=_task_major(mask, shape),
            advantages=torch.zeros(*shape, horizon),
            success=_tensor(episode_success(sim)).view(shape),
        )


def _task_major(x: Tensor, shape: tuple[int, int]) -> Tensor:
    """``[T, N, ...]`` → ``[tasks, E, T, ...]`` (a strided view, not a copy)."""
    return x.transpose(0, 1).reshape(*shape, *x.shape[:1], *x.shape[2:])


def in_sampler_layout(episodes: Episodes) -> Episodes:
    """``episodes`` (joined from shards) laid out in memory as :meth:`RolloutSampler.sample`
    leaves them (time-major): reductions over them then add in the same order, bit for bit."""

    def relaid(x: Tensor) -> Tensor:
        tasks, rollouts, horizon = x.shape[:3]
        buffer = x.new_empty(horizon, tasks * rollouts, *x.shape[3:])
        return _task_major(buffer, (tasks, rollouts)).copy_(x)

    return episodes._replace(**{name: relaid(getattr(episodes, name)) for name in _TIME_MAJOR})


_TIME_MAJOR = ("observations", "actions", "rewards", "mask")


def after_last_step_zeroed(episodes: Episodes) -> Episodes:
    """``episodes`` with every entry after the meta-batch's last step set to 0, as
    :meth:`RolloutSampler.sample` leaves them when all its envs are done before the horizon."""
    steps = int(episodes.mask.sum(-1).max().item())
    if steps == episodes.mask.shape[-1]:
        return episodes

    def zeroed(field: Tensor) -> Tensor:
        field = field.clone()
        field[:, :, steps:] = 0
        return field

    per_step = (*_TIME_MAJOR, "advantages")
    return episodes._replace(**{name: zeroed(getattr(episodes, name)) for name in per_step})


def _tensor(array: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(array), dtype=torch.float32)
