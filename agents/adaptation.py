"""Few-rollout adaptation: sample, fit baselines, take a policy-gradient step; repeat K times.

This is the data-collection half of MAML-RL (Finn et al. 2017, Algorithm 3, lines 4–8;
pytorch-maml-rl ``MultiTaskSampler.sample``): step k samples fresh rollouts with the policy adapted
k times, and the core's inner loop takes the step for every task at once. The steps here run
without a graph; the meta-gradient recomputes them differentiably from the stored episodes.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import torch

from metarl.agents.episodes import Episodes, with_advantages
from metarl.agents.guards import check_episodes, first_nonfinite
from metarl.agents.losses import reinforce_loss
from metarl.agents.policies import TaskPolicies
from metarl.agents.sampler import EpisodeSampler
from metarl.core import InnerLoop, Params


class AdaptationResult(NamedTuple):
    """What :meth:`Adaptation.run` collected.

    Attributes:
        episodes: the rollouts of the policy after 0, 1, …, K inner steps (with advantages);
            the last entry is missing when the adapted policy was not sampled.
        adapted: the per-task parameters after K steps (shared parameters if K = 0).
        seconds: wall time spent sampling (``sample``) and in inner updates (``inner``).
    """

    episodes: list[Episodes]
    adapted: Params
    seconds: dict[str, float]


class Adaptation:
    """K steps of vanilla policy gradient on each task, each from fresh rollouts.

    Args:
        policies: the policy, evaluated per task.
        inner: the core inner loop (step size α, first order or not).
        gamma: discount γ.
        gae_lambda: GAE λ.
        baseline_reg: initial ridge coefficient of the linear baselines.
    """

    def __init__(
        self,
        policies: TaskPolicies,
        inner: InnerLoop,
        gamma: float,
        gae_lambda: float,
        baseline_reg: float = 1e-5,
    ) -> None:
        self.policies = policies
        self.inner = inner
        self.loss = reinforce_loss(policies.call)
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.baseline_reg = baseline_reg

    def sample(
        self,
        sampler: EpisodeSampler,
        params: Params,
        batched: bool,
        rng: np.random.Generator,
        where: str,
    ) -> Episodes:
        """Rollouts of ``params`` with their advantages; non-finite rollouts raise
        :class:`~metarl.errors.NonFiniteError` naming ``where``, before any baseline is fit."""
        return self._with_advantages(sampler.sample(self.policies, params, batched, rng), where)

    def _with_advantages(self, episodes: Episodes, where: str) -> Episodes:
        check_episodes(episodes, where)
        return with_advantages(episodes, self.gamma, self.gae_lambda, self.baseline_reg)

    def run(
        self,
        sampler: EpisodeSampler,
        params: Params,
        steps: int,
        rng: np.random.Generator,
        sample_adapted: bool = True,
        label: str = "rollouts",
        stop_at_nonfinite: bool = False,
    ) -> AdaptationResult:
        """Adapt ``params`` to each of the sampler's tasks with ``steps`` inner steps; ``label``
        names the rollouts in errors. Non-finite rollouts raise
        :class:`~metarl.errors.NonFiniteError`, or with ``stop_at_nonfinite`` end the
        adaptation: they are the last entry of ``episodes`` (without advantages)."""
        seconds = {"sample": 0.0, "inner": 0.0}
        episodes: list[Episodes] = []
        batched = False
        for step in range(steps + int(sample_adapted)):
            started = time.perf_counter()
            sampled = sampler.sample(self.policies, params, batched, rng)
            if stop_at_nonfinite and first_nonfinite(sampled) is not None:
                episodes.append(sampled)
                break
            episodes.append(self._with_advantages(sampled, f"{label}, adaptation step {step}"))
            seconds["sample"] += time.perf_counter() - started
            if step == steps:
                break
            started = time.perf_counter()
            with torch.no_grad():
                params = self.inner.step_tasks(
                    params, self.loss, episodes[-1], step, batched, self.policies.vectorize
                )
            seconds["inner"] += time.perf_counter() - started
            batched = True
        return AdaptationResult(episodes, params, seconds)
