"""A MuJoCo simulation fed huge or non-finite actions: huge ones are clipped to the action bounds
and the rollouts stay finite; non-finite ones make MuJoCo reset an unstable simulation, and the
broken rollout is reported (``non-finite reward from the simulator``) instead of reaching the
learner."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from metarl.agents.guards import check_episodes
from metarl.agents.sampler import RolloutSampler
from metarl.agents.trainer import MetaRLTrainer, make_simulator
from metarl.config import read_toml
from metarl.errors import NonFiniteError
from metarl.experiment import resolve_config
from metarl.training import iteration_rng

from .conftest import REPO

CHEETAH = REPO / "experiments" / "halfcheetah_vel_maml.toml"
TINY = [
    "agent.meta_batch_size=2",
    "agent.rollouts=2",
    "env.horizon=20",
    "policy.hidden=[8]",
    "env.threads=1",
]


@pytest.fixture
def trainer() -> MetaRLTrainer:
    _, config = resolve_config(read_toml(Path(CHEETAH)), TINY)
    return MetaRLTrainer(config)


def rollouts(trainer: MetaRLTrainer):
    tasks = trainer.tasks.split("train")[:2]
    simulator = make_simulator(trainer.config, tasks, 2, seed=0)
    sampler = RolloutSampler(simulator, len(tasks), trainer.config.env.horizon)
    rng = np.random.default_rng(0)
    return sampler.sample(trainer.adaptation.policies, trainer.params, False, rng)


def test_huge_actions_are_clipped_and_the_rollouts_stay_finite(trainer):
    with torch.no_grad():
        trainer.policy.mean.bias.fill_(1e30)
    episodes = rollouts(trainer)
    assert float(episodes.actions.abs().min()) >= 1e29  # the policy really asked for them
    assert bool(episodes.observations.isfinite().all())
    assert bool(episodes.rewards.isfinite().all())
    check_episodes(episodes, "test")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_actions_are_reported_not_learned_from(trainer, value):
    with torch.no_grad():
        trainer.policy.mean.bias.fill_(value)
        trainer.policy.mean.weight.zero_()
    before = {name: p.clone() for name, p in trainer.policy.named_parameters()}
    with pytest.raises(NonFiniteError, match=r"non-finite (reward|observation) from the simulator"):
        trainer.train_iteration(0, iteration_rng(0, 0))
    after = dict(trainer.policy.named_parameters())
    assert all(torch.equal(after[n], p) or not p.isfinite().all() for n, p in before.items())
