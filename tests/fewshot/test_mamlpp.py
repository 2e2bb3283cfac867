"""MAML++'s schedules in the few-shot learner: derivative-order annealing and the cosine outer
learning rate, with their checkpoints."""

import copy
import math

import numpy as np
import pytest
import torch

from metarl.errors import ConfigError
from metarl.fewshot.config import LearnerConfig
from metarl.fewshot.learners import GradientLearner
from metarl.fewshot.models import SinusoidMLP
from metarl.fewshot.sinusoid import SinusoidTasks


def learner(algorithm: str = "maml", **overrides) -> GradientLearner:
    torch.manual_seed(0)
    config = LearnerConfig(algorithm=algorithm, inner_lr=0.05, outer_lr=0.01, **overrides)
    return GradientLearner(SinusoidMLP(hidden=8), config, "mse")


def batch(seed: int):
    return SinusoidTasks().sample(np.random.default_rng(seed), 4, shots=5, queries=6)


def params_of(learner: GradientLearner):
    return {name: p.detach().clone() for name, p in learner.params.items()}


def test_derivative_order_annealing_is_first_order_then_second_order():
    annealed = learner("maml", inner_steps=2, first_order_iterations=1)
    first = learner("fomaml", inner_steps=2)
    second = learner("maml", inner_steps=2)
    annealed.meta_step(batch(0))
    first.meta_step(batch(0))
    for name, value in params_of(annealed).items():
        assert torch.allclose(value, first.params[name])
    # From the same point, the next update is second order (MAML's, not FOMAML's).
    second.load_state_dict(copy.deepcopy(annealed.state_dict()))
    first.load_state_dict(copy.deepcopy(annealed.state_dict()))
    annealed.meta_step(batch(1))
    second.meta_step(batch(1))
    first.meta_step(batch(1))
    for name, value in params_of(annealed).items():
        assert torch.allclose(value, second.params[name])
    assert not torch.allclose(annealed.params["net.0.weight"], first.params["net.0.weight"])


def test_cosine_outer_lr_follows_the_schedule_and_survives_a_checkpoint():
    run = learner("maml", cosine_iterations=4, min_outer_lr=0.001)
    lrs = [run.meta_step(batch(i))["outer_lr"] for i in range(3)]
    want = [0.001 + 0.5 * (0.01 - 0.001) * (1 + math.cos(math.pi * i / 4)) for i in range(3)]
    assert lrs == pytest.approx(want)
    resumed = learner("maml", cosine_iterations=4, min_outer_lr=0.001)
    resumed.load_state_dict(copy.deepcopy(run.state_dict()))
    assert resumed.iteration == 3
    assert resumed.meta_step(batch(3))["outer_lr"] == pytest.approx(
        run.meta_step(batch(3))["outer_lr"]
    )
    assert run.meta_step(batch(4))["outer_lr"] == pytest.approx(0.001)


def test_multi_step_loss_changes_the_update_only_with_several_steps():
    plain = learner("maml", inner_steps=3)
    msl = learner("maml", inner_steps=3, multi_step_loss=100)
    plain.meta_step(batch(0))
    msl.meta_step(batch(0))
    assert not torch.allclose(plain.params["net.0.weight"], msl.params["net.0.weight"])


def test_schedules_refused_where_there_is_no_maml_loss():
    with pytest.raises(ConfigError, match="no MAML outer loss"):
        LearnerConfig(algorithm="reptile", multi_step_loss=10, inner_lr=0.1)
