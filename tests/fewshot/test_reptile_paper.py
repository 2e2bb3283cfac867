"""Reptile as in its paper's code: minibatched inner steps, the inner Adam, the linearly
annealed outer step, and the paper configs."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from metarl.config import read_toml
from metarl.errors import ConfigError
from metarl.experiment import resolve_config
from metarl.fewshot.config import LearnerConfig
from metarl.fewshot.episodes import Episode, minibatch_indices, support_minibatches
from metarl.fewshot.learners import GradientLearner
from metarl.fewshot.models import SinusoidMLP
from metarl.fewshot.sinusoid import SinusoidTasks

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments" / "fewshot"


def reptile(**overrides) -> GradientLearner:
    torch.manual_seed(0)
    settings = {"algorithm": "reptile", "inner_lr": 0.02, "outer_lr": 0.5, "inner_steps": 3}
    settings.update(outer_optimizer="sgd", **overrides)
    return GradientLearner(SinusoidMLP(hidden=8), LearnerConfig(**settings), "mse")


def batch(seed: int = 0, n_tasks: int = 3) -> Episode:
    return SinusoidTasks().sample(np.random.default_rng(seed), n_tasks, shots=6, queries=4)


def params_of(learner: GradientLearner) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in learner.params.items()}


def test_minibatches_are_consecutive_slices_of_reshuffled_passes():
    indices = minibatch_indices(6, steps=5, batch=4, generator=torch.Generator().manual_seed(1))
    assert indices.shape == (5, 4)
    flat = indices.reshape(-1)
    for start in (0, 6, 12):  # every pass covers each example once
        assert sorted(flat[start : start + 6].tolist()) == list(range(6))
    episodes = batch()
    steps = support_minibatches(episodes, indices[:2])
    assert torch.equal(steps[1].support_x[2], episodes.support_x[2, indices[1]])
    assert steps[0].query_x is episodes.query_x


def test_a_minibatch_of_the_whole_support_set_is_the_full_batch_update():
    full, whole = reptile(), reptile(inner_batch=6)
    full.meta_step(batch())
    whole.meta_step(batch())
    for name, value in params_of(full).items():
        assert torch.allclose(value, whole.params[name], atol=1e-6)


def test_reptile_moves_towards_the_mean_of_tasks_adapted_on_their_minibatches():
    run = reptile(inner_batch=2, inner_rule="adam")
    before = params_of(run)
    generator = torch.Generator()
    generator.set_state(run.shuffle.get_state())
    episodes = batch()
    run.meta_step(episodes)
    adapted = []
    for task in range(3):
        indices = minibatch_indices(6, 3, 2, generator)
        params = dict(before)
        for step in range(3):
            rows = indices[step]
            data = Episode(
                episodes.support_x[task, rows],
                episodes.support_y[task, rows],
                episodes.query_x[task],
                episodes.query_y[task],
            )
            params = run.inner.step(params, run.support_loss, data, step)
        adapted.append(params)
    for name, value in before.items():
        mean = torch.stack([a[name] for a in adapted]).mean(0)
        want = value + 0.5 * (mean - value)
        assert torch.allclose(run.params[name], want, atol=1e-6), name


def test_outer_step_anneals_linearly_to_zero():
    run = reptile(linear_iterations=4)
    lrs = [run.meta_step(batch(i))["outer_lr"] for i in range(4)]
    assert lrs == pytest.approx([0.5, 0.375, 0.25, 0.125])
    before = params_of(run)
    assert run.meta_step(batch(4))["outer_lr"] == 0.0
    for name, value in before.items():  # a zero step size leaves θ where it was
        assert torch.equal(run.params[name], value)


@pytest.mark.parametrize("carry", [False, True])
def test_resumed_run_draws_the_same_minibatches(carry):
    settings = {"inner_batch": 2, "inner_rule": "adam", "linear_iterations": 10}
    run = reptile(**settings, inner_adam_carry=carry)
    run.meta_step(batch(0))
    resumed = reptile(**settings, inner_adam_carry=carry)
    resumed.load_state_dict(copy.deepcopy(run.state_dict()))
    run.meta_step(batch(1))
    resumed.meta_step(batch(1))
    for name, value in params_of(run).items():
        assert torch.equal(resumed.params[name], value)


def test_evaluation_minibatches_do_not_depend_on_the_other_episodes():
    run = reptile(inner_rule="adam", eval_inner_batch=4)
    episodes = batch(n_tasks=3)
    together = run.adaptation_curve(episodes, steps=4)
    alone = run.adaptation_curve(Episode(*(f[2:] for f in vars(episodes).values())), steps=4)
    assert together.shape == (3, 5)
    assert torch.allclose(together[2], alone[0])
    assert not torch.equal(together[:, 0], together[:, -1])


def test_paper_configs_carry_the_reference_hyperparameters():
    want = {
        "omniglot_5w1s_reptile_paper.toml": (15, 1, 25, 3, 0.001, 1.0, 10, 25, 5),
        "omniglot_5w5s_reptile_paper.toml": (10, 5, 10, 5, 0.0015, 0.7, 5, 6, 100),
    }
    for name, values in want.items():
        config = resolve_config(read_toml(EXPERIMENTS / name), ['data.data_dir="x"'])[1]
        learner, data = config.learner, config.data
        assert (
            data.shots,
            data.test_shots,
            learner.inner_batch,
            learner.inner_steps,
            learner.inner_lr,
            learner.outer_lr,
            learner.meta_batch_size,
            learner.eval_inner_batch,
            config.eval.steps,
        ) == values
        assert learner.inner_rule == "adam" and learner.inner_betas == (0.0, 0.999)
        assert learner.inner_adam_carry
        assert learner.linear_iterations == config.run.iterations == 100_000
        assert (data.protocol, data.augment_rotations) == ("random", True)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"algorithm": "maml", "inner_rule": "adam"}, "first-order learner"),
        ({"linear_iterations": 5, "cosine_iterations": 5}, "not both"),
        ({"inner_batch": -1}, "inner_batch"),
        ({"inner_betas": (0.0,)}, "two values"),
        ({"inner_adam_carry": True}, "inner_adam_carry needs"),
    ],
)
def test_bad_reptile_settings_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        LearnerConfig(**{"algorithm": "reptile", "inner_lr": 0.1, **overrides})
