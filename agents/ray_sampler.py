"""Meta-training rollouts on Ray actors: ``[sampler] backend = "ray"`` (the ``ray`` extra).

Each of ``workers`` actors holds a :class:`~metarl.envs.BatchedSimulator` for a fixed shard of
the meta-batch: worker ``w`` always runs tasks ``shards[w]`` (contiguous, by task index), whichever
worker is free first. Per sampling call the learner draws the same :class:`RolloutSeeds` as the
in-process sampler, puts the parameters in the object store once (θ once; adapted per-task
parameters once per shard, each worker needing only its rows), and every worker samples its
shard with :meth:`RolloutSampler.sample_shard`, which draws the whole meta-batch's action noise
and keeps its rows. The concatenated episodes are bit-identical to
:meth:`RolloutSampler.sample` on one machine (same CPU kind; ``tests/agents/test_ray_sampler.py``).

pytorch-maml-rl's ``MultiTaskSampler`` hands tasks to whichever process is free through a queue,
so its rollouts depend on timing; here nothing does. A worker that dies is replaced, its shard
re-sampled with the same seeds (a warning is logged), and the call completes.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from metarl.agents.config import RLExperiment
from metarl.agents.episodes import Episodes
from metarl.agents.policies import GaussianMLPPolicy, TaskPolicies
from metarl.agents.sampler import (
    RolloutSampler,
    RolloutSeeds,
    Shard,
    after_last_step_zeroed,
    in_sampler_layout,
)
from metarl.cluster import connect
from metarl.core import Params
from metarl.envs import BatchedSimulator, Task

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
"""Replacements of one worker within one sampling call before the error is raised."""


def task_shards(n_tasks: int, workers: int) -> list[Shard]:
    """Contiguous, non-empty shards of ``n_tasks`` tasks, at most ``workers`` of them, sizes
    differing by at most one (the first ones larger)."""
    count = min(n_tasks, workers)
    sizes = [n_tasks // count + (w < n_tasks % count) for w in range(count)]
    starts = np.cumsum([0, *sizes[:-1]])
    return [Shard(int(first), size, n_tasks) for first, size in zip(starts, sizes, strict=True)]


class ShardWorker:
    """The Ray actor: one shard's batched simulator and sampler (ray.remote-wrapped by
    :class:`RayWorkerPool`).

    Args:
        config: the experiment (family, horizon, rollouts per task, action scale, threads).
        policy: the policy module; only its structure is used (parameters come per call).
    """

    def __init__(self, config: RLExperiment, policy: GaussianMLPPolicy) -> None:
        if config.env.plugins:
            from metarl.envs.plugins import load_plugin

            for entry in config.env.plugins:
                load_plugin(entry)
        torch.set_num_threads(1)
        self.config = config
        self.policies = TaskPolicies(policy, config.agent.vectorize)
        self.sampler: RolloutSampler | None = None

    def set_tasks(self, tasks: list[Task]) -> None:
        """Build the simulator of this shard's ``tasks`` (``agent.rollouts`` envs each)."""
        config = self.config
        simulator = BatchedSimulator(
            config.env.family,
            tasks,
            config.agent.rollouts,
            horizon=config.env.horizon,
            n_threads=config.env.threads or config.sampler.cpus_per_worker,
        )
        self.sampler = RolloutSampler(
            simulator, len(tasks), config.env.horizon, config.policy.action_scale
        )

    def sample(
        self, params: Params, params_batched: bool, seeds: RolloutSeeds, shard: Shard
    ) -> Episodes:
        """This shard's episodes (see :meth:`RolloutSampler.sample_shard`)."""
        assert self.sampler is not None, "set_tasks first"
        return self.sampler.sample_shard(self.policies, params, params_batched, seeds, shard)


class RayWorkerPool:
    """``sampler.workers`` :class:`ShardWorker` actors, kept for the whole run.

    Args:
        config: the experiment; ``config.sampler`` says where and how many.
        policy: the policy whose structure the workers evaluate.
    """

    def __init__(self, config: RLExperiment, policy: GaussianMLPPolicy) -> None:
        settings = config.sampler
        self.ray = connect(settings.address, settings.workers * settings.cpus_per_worker)
        self.config = config
        self.policy = policy
        self.actor_class = self.ray.remote(num_cpus=settings.cpus_per_worker)(ShardWorker)
        self.actors = [self._new_actor() for _ in range(settings.workers)]
        self.restarts = 0

    def _new_actor(self) -> Any:
        return self.actor_class.remote(self.config, self.policy)

    def sampler(self, tasks: list[Task]) -> RaySampler:
        """A sampler of this meta-batch; the workers build their shards' simulators now."""
        shards = task_shards(len(tasks), len(self.actors))
        assignment = [tasks[s.first : s.first + s.count] for s in shards]
        calls = [a.set_tasks.remote(t) for a, t in zip(self.actors, assignment, strict=False)]
        for index, call in enumerate(calls):
            try:
                self.ray.get(call)
            except self.ray.exceptions.RayActorError as error:
                self.replace(index, assignment[index], error)
        return RaySampler(self, shards, assignment)

    def replace(self, index: int, shard_tasks: list[Task], error: Exception) -> None:
        """Start a new actor in place of worker ``index`` (dead) with its shard's tasks."""
        self.restarts += 1
        log.warning("Ray sampler worker %d died (%s); restarting it", index, type(error).__name__)
        self.actors[index] = self._new_actor()
        self.ray.get(self.actors[index].set_tasks.remote(shard_tasks))

    def close(self) -> None:
        """Stop the actors."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


class RaySampler:
    """:meth:`RolloutSampler.sample` for one meta-batch, sharded over a :class:`RayWorkerPool`."""

    def __init__(self, pool: RayWorkerPool, shards: list[Shard], tasks: list[list[Task]]) -> None:
        self.pool = pool
        self.shards = shards
        self.tasks = tasks
        self.bytes_sent = 0
        self.bytes_received = 0

    def sample(
        self,
        policies: TaskPolicies,
        params: Params,
        params_batched: bool,
        rng: np.random.Generator,
    ) -> Episodes:
        """The episodes :meth:`RolloutSampler.sample` would return (``policies`` must be the
        pool's policy: the workers hold their own copy)."""
        del policies
        ray, seeds = self.pool.ray, RolloutSeeds.draw(rng)
        detached = {name: value.detach() for name, value in params.items()}
        if params_batched:
            refs = [ray.put(_rows(detached, shard)) for shard in self.shards]
        else:
            refs = [ray.put(detached)] * len(self.shards)
        self.bytes_sent += _nbytes(detached)

        def submit(index: int) -> Any:
            actor, shard = self.pool.actors[index], self.shards[index]
            return actor.sample.remote(refs[index], params_batched, seeds, shard)

        pending = [submit(i) for i in range(len(self.shards))]
        parts = []
        for index, future in enumerate(pending):
            for attempt in range(MAX_RESTARTS + 1):
                try:
                    parts.append(ray.get(future))
                    break
                except ray.exceptions.RayActorError as error:
                    if attempt == MAX_RESTARTS:
                        raise
                    self.pool.replace(index, self.tasks[index], error)
                    future = submit(index)
        episodes = Episodes(*(torch.cat(fields) for fields in zip(*parts, strict=True)))
        self.bytes_received += _nbytes(episodes._asdict())
        return in_sampler_layout(after_last_step_zeroed(episodes))


def _rows(params: Params, shard: Shard) -> Params:
    """The shard's rows, copied (a pickled view would carry its whole storage)."""
    rows = slice(shard.first, shard.first + shard.count)
    return {name: value[rows].clone() for name, value in params.items()}


def _nbytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())
