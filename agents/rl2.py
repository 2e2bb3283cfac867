"""RL² (Duan et al. 2016): meta-training a recurrent policy that adapts through its hidden state.

One iteration samples a meta-batch of training tasks, runs ``trials_per_task`` trials of K
episodes of each in one batched simulator, and takes PPO epochs over the trials. Evaluation runs
trials of K+1 episodes on held-out tasks and reports the return of each episode: the analogue of
MAML's "return after k inner steps", each step being one more episode of experience.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from metarl.agents.config import RLExperiment
from metarl.agents.evaluation import AdaptationCurves
from metarl.agents.recurrent_policy import RecurrentGaussianPolicy
from metarl.agents.rl2_ppo import ppo_loss, trial_advantages
from metarl.agents.rl2_rollout import Trials, sample_trials
from metarl.agents.trainer import make_simulator, task_distribution
from metarl.envs import Task


def build_recurrent_policy(config: RLExperiment, tasks: list[Task]) -> RecurrentGaussianPolicy:
    """A freshly initialised recurrent policy (seeded by ``run.seed``) sized for the family."""
    probe = make_simulator(config, tasks[:1], 1, seed=0)
    settings = config.rl2
    return RecurrentGaussianPolicy(
        probe.observation_dim,
        probe.action_dim,
        settings.hidden,
        settings.init_std,
        seed=config.run.seed,
    )


def _select(trials: Trials, index: torch.Tensor) -> Trials:
    return Trials(*(x[index] for x in trials))


class RL2Trainer:
    """A :class:`~metarl.training.Trainer` for ``algorithm = "rl2"``."""

    def __init__(self, config: RLExperiment) -> None:
        self.config = config
        self.tasks = task_distribution(config)
        self.policy = build_recurrent_policy(config, self.tasks.split("train"))
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.rl2.learning_rate)
        self.env_steps = 0

    def train_iteration(self, iteration: int, rng: np.random.Generator) -> dict[str, float]:
        """Sample trials of a meta-batch of tasks, then PPO epochs over them."""
        del iteration
        config, settings = self.config, self.config.rl2
        started = time.perf_counter()
        tasks = self.tasks.sample(config.agent.meta_batch_size, rng)
        simulator = make_simulator(
            config, tasks, settings.trials_per_task, seed=int(rng.integers(2**31))
        )
        trials = sample_trials(
            self.policy,
            simulator,
            settings.episodes_per_trial,
            config.env.horizon,
            rng,
            config.policy.action_scale,
        )
        sample_s = time.perf_counter() - started
        advantages, returns = trial_advantages(
            trials, config.agent.gamma, settings.gae_lambda, settings.reward_scale
        )
        generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
        parts = self._ppo_epochs(trials, advantages, returns, generator)
        steps = trials.steps()
        self.env_steps += steps
        episode_returns = trials.episode_returns(settings.episodes_per_trial).mean(0)
        scalars = {f"adapt/return_episode{k + 1}": v.item() for k, v in enumerate(episode_returns)}
        if not torch.isnan(trials.success).all():
            rates = trials.success.mean(0)
            scalars.update({f"adapt/success_episode{k + 1}": v.item() for k, v in enumerate(rates)})
        scalars.update({f"meta_train/{name}": float(np.mean(v)) for name, v in parts.items()})
        iteration_s = time.perf_counter() - started
        scalars["time/sample_s"] = sample_s
        scalars["time/update_s"] = iteration_s - sample_s
        scalars["time/iteration_s"] = iteration_s
        scalars["time/env_steps_per_s"] = steps / iteration_s
        scalars["time/env_steps"] = float(self.env_steps)
        return scalars

    def _ppo_epochs(
        self,
        trials: Trials,
        advantages: torch.Tensor,
        returns: torch.Tensor,
        generator: torch.Generator,
    ) -> dict[str, list[float]]:
        """PPO epochs over shuffled minibatches of trials (stopped early past ``target_kl``);
        the minibatches' statistics and the number of updates taken."""
        settings = self.config.rl2
        n = trials.mask.shape[0]

        def minibatches() -> Iterator[torch.Tensor]:
            for _ in range(settings.epochs):
                order = torch.randperm(n, generator=generator)
                for start in range(0, n, settings.minibatch_trials):
                    yield order[start : start + settings.minibatch_trials]

        parts: dict[str, list[float]] = {}
        updates = 0
        for index in minibatches():
            loss, stats = ppo_loss(
                self.policy, _select(trials, index), advantages[index], returns[index], settings
            )
            for name, value in stats.items():
                parts.setdefault(name, []).append(value)
            if settings.target_kl is not None and stats["approx_kl"] > 1.5 * settings.target_kl:
                break
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), settings.max_grad_norm)
            self.optimizer.step()
            updates += 1
        parts["updates"] = [updates]
        return parts

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "env_steps": self.env_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.env_steps = int(state["env_steps"])


def episode_curves(
    config: RLExperiment,
    policy: RecurrentGaussianPolicy,
    tasks: list[Task],
    episodes: int,
    trials: int,
    seed: int,
) -> AdaptationCurves:
    """Mean return (and success rate) of episode 1..``episodes`` of a trial on each task, each
    ``[tasks, episodes]``.

    Each task runs on its own, drawing its env seeds and action noise from
    ``default_rng([seed, index])``: its curve depends on the seed and its index only.
    """
    returns, success = [], []
    for index, task in enumerate(tasks):
        simulator = make_simulator(config, [task], trials, seed=0)
        rng = np.random.default_rng([seed, index])
        result = sample_trials(
            policy, simulator, episodes, config.env.horizon, rng, config.policy.action_scale
        )
        per_trial = result.episode_returns(episodes).view(1, trials, episodes)
        returns.append(per_trial.mean(1).double().numpy())
        success.append(result.success.view(1, trials, episodes).mean(1).double().numpy())
    rates = np.concatenate(success)
    return AdaptationCurves(np.concatenate(returns), None if np.isnan(rates).all() else rates)
