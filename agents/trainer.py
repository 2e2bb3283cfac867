"""Meta-training of MAML-RL, first-order MAML-RL and Reptile-RL, one meta-iteration at a time.

One iteration (Finn et al. 2017, Algorithm 3): sample a meta-batch of training tasks; for each
inner step, sample rollouts of the current per-task policies in one batched simulator and take a
policy-gradient step for all tasks at once (the core, vmapped); sample the adapted policies; then
the outer update (TRPO/PPO through the inner steps for MAML, ``θ += ε·mean(φ − θ)`` for Reptile).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from metarl.agents.adaptation import Adaptation
from metarl.agents.config import RLExperiment
from metarl.agents.episodes import Episodes
from metarl.agents.maml import MAMLRL
from metarl.agents.policies import GaussianMLPPolicy, TaskPolicies
from metarl.agents.reptile import ReptileRL
from metarl.agents.sampler import EpisodeSampler, RolloutSampler, Simulator
from metarl.core import InnerLoop, InnerLoopConfig, module_params
from metarl.envs import BatchedSimulator, Task, make_task_distribution

if TYPE_CHECKING:
    from metarl.agents.ray_sampler import RayWorkerPool


def make_simulator(
    config: RLExperiment, tasks: list[Task], envs_per_task: int, seed: int
) -> Simulator:
    """A batched simulator for ``tasks`` with the config's family, horizon, threads and
    workers."""
    return BatchedSimulator(
        config.env.family,
        tasks,
        envs_per_task,
        seed=seed,
        horizon=config.env.horizon,
        n_threads=config.env.threads,
        workers=config.env.workers,
    )


def task_distribution(config: RLExperiment) -> Any:
    """The family's train/test task sets, seeded by ``env.task_seed``."""
    sizes = {"n_train": config.env.train_tasks, "n_test": config.env.test_tasks}
    return make_task_distribution(
        config.env.family,
        config.env.task_seed,
        **{name: size for name, size in sizes.items() if size is not None},
    )


def build_policy(config: RLExperiment, tasks: list[Task]) -> GaussianMLPPolicy:
    """A freshly initialised policy (seeded by ``run.seed``) sized for the family's envs."""
    probe = make_simulator(config, tasks[:1], 1, seed=0)
    return GaussianMLPPolicy(
        probe.observation_dim,
        probe.action_dim,
        config.policy.hidden,
        config.policy.init_std,
        seed=config.run.seed,
    )


def build_adaptation(config: RLExperiment, policy: GaussianMLPPolicy) -> Adaptation:
    """The inner loop of ``config`` (first order unless the algorithm is MAML) on ``policy``."""
    agent = config.agent
    inner = InnerLoop(
        module_params(policy),
        InnerLoopConfig(
            steps=agent.inner_steps,
            lr=agent.inner_lr,
            first_order=agent.algorithm != "maml",
            rule=agent.inner_rule,
        ),
    )
    policies = TaskPolicies(policy, agent.vectorize)
    return Adaptation(policies, inner, agent.gamma, agent.gae_lambda, agent.baseline_reg)


class MetaRLTrainer:
    """A :class:`~metarl.training.Trainer` for maml, fomaml and reptile configs."""

    def __init__(self, config: RLExperiment) -> None:
        self.config = config
        self.tasks = task_distribution(config)
        self.policy = build_policy(config, self.tasks.split("train"))
        self.params = module_params(self.policy)
        self.adaptation = build_adaptation(config, self.policy)
        if config.agent.algorithm == "reptile":
            self.learner: MAMLRL | ReptileRL = ReptileRL(self.params, config.reptile)
        else:
            self.learner = MAMLRL(
                self.params,
                self.adaptation.inner,
                self.adaptation.policies,
                config.agent.outer,
                config.trpo,
                config.outer_ppo,
            )
        self.env_steps = 0
        self.workers: RayWorkerPool | None = None
        if config.sampler.backend == "ray":
            from metarl.agents.ray_sampler import RayWorkerPool

            self.workers = RayWorkerPool(config, self.policy)

    def meta_batch_sampler(self, tasks: list[Task], rng: np.random.Generator) -> EpisodeSampler:
        """The sampler of one meta-batch: in this process, or on the Ray workers (both draw the
        simulator's seed from ``rng``, so both sample the same episodes)."""
        seed = int(rng.integers(2**31))
        if self.workers is not None:
            return self.workers.sampler(tasks)
        simulator = make_simulator(self.config, tasks, self.config.agent.rollouts, seed=seed)
        return RolloutSampler(
            simulator, len(tasks), self.config.env.horizon, self.config.policy.action_scale
        )

    def train_iteration(self, iteration: int, rng: np.random.Generator) -> dict[str, float]:
        """Sample a meta-batch, adapt to each task, update the initialisation."""
        del iteration
        agent = self.config.agent
        started = time.perf_counter()
        tasks = self.tasks.sample(agent.meta_batch_size, rng)
        sampler = self.meta_batch_sampler(tasks, rng)
        is_reptile = isinstance(self.learner, ReptileRL)
        result = self.adaptation.run(
            sampler,
            self.params,
            agent.inner_steps,
            rng,
            sample_adapted=not is_reptile,
            label="meta-training rollouts",
        )
        if isinstance(self.learner, ReptileRL):
            summary = self.learner.step(result.adapted)
        else:
            summary = self.learner.step(result.episodes[:-1], result.episodes[-1])
        iteration_steps = sum(episodes.steps() for episodes in result.episodes)
        self.env_steps += iteration_steps
        returns = [episodes.episode_returns().mean().item() for episodes in result.episodes]
        scalars = {"meta_train/return_pre": returns[0]}
        if not is_reptile:
            scalars["meta_train/return_post"] = returns[-1]
        scalars.update({f"adapt/return_step{k}": value for k, value in enumerate(returns)})
        scalars.update(success_scalars(result.episodes, post=not is_reptile))
        timings = {"sample_s": result.seconds["sample"], "inner_s": result.seconds["inner"]}
        for name, value in summary.items():
            if name.endswith("_s"):
                timings[name] = value
            else:
                scalars[f"meta_train/{name}"] = value
        timings["iteration_s"] = time.perf_counter() - started
        timings["env_steps_per_s"] = iteration_steps / timings["iteration_s"]
        scalars.update({f"time/{name}": value for name, value in timings.items()})
        scalars["time/env_steps"] = float(self.env_steps)
        return scalars

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.state_dict(),
            "learner": self.learner.state_dict(),
            "env_steps": self.env_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.policy.load_state_dict(state["policy"])
        self.learner.load_state_dict(state["learner"])
        self.env_steps = int(state["env_steps"])


def success_scalars(episodes: list[Episodes], post: bool) -> dict[str, float]:
    """The success rates of a meta-batch after 0..K inner steps (``meta_train/success_pre``,
    ``_post`` and ``adapt/success_step{k}``), or nothing for a family that reports no success."""
    rates = [batch.success_rates() for batch in episodes]
    if rates[0] is None:
        return {}
    means = [float(rate.mean()) for rate in rates if rate is not None]
    scalars = {"meta_train/success_pre": means[0]}
    if post:
        scalars["meta_train/success_post"] = means[-1]
    scalars.update({f"adapt/success_step{k}": value for k, value in enumerate(means)})
    return scalars
