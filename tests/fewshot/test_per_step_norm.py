"""MAML++'s per-step batch norm: per-step weights seen at the right steps, their meta-gradient,
per-step running statistics, and configs without it unchanged."""

from pathlib import Path

import pytest
import torch

from metarl.config import read_toml
from metarl.core import meta_objective, tree_index
from metarl.errors import ConfigError
from metarl.experiment import resolve_config
from metarl.fewshot.config import FewShotExperiment, LearnerConfig
from metarl.fewshot.episodes import Episode
from metarl.fewshot.learners import GradientLearner
from metarl.fewshot.models import (
    BatchStatNorm2d,
    ConvNet,
    PerStepBatchNorm2d,
    recording_statistics,
)

WAYS, STEPS, HIDDEN = 3, 2, 4
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments" / "fewshot"


def learner(**overrides) -> GradientLearner:
    """A 2-block conv net on 4×4 images (1×1 after two pools) with per-step batch norm."""
    torch.manual_seed(0)
    settings = {
        "inner_lr": 0.3,
        "inner_steps": STEPS,
        "per_step_norm": True,
        "hidden": HIDDEN,
        "vectorize": False,
        **overrides,
    }
    norm_steps = STEPS + 1 if settings["per_step_norm"] else 0
    model = ConvNet(ways=WAYS, hidden=HIDDEN, blocks=2, norm_steps=norm_steps)
    for norm in model.modules():  # distinct per-step weights, so a wrong entry shows
        if isinstance(norm, PerStepBatchNorm2d):
            with torch.no_grad():
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
    return GradientLearner(model, LearnerConfig(**settings), "accuracy")


def episodes(n_tasks: int = 2, seed: int = 0) -> Episode:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(WAYS)
    return Episode(
        support_x=torch.rand(n_tasks, WAYS * 2, 1, 4, 4, generator=generator),
        support_y=labels.repeat_interleave(2).expand(n_tasks, -1),
        query_x=torch.rand(n_tasks, WAYS * 3, 1, 4, 4, generator=generator),
        query_y=labels.repeat_interleave(3).expand(n_tasks, -1),
    )


def query_losses(run: GradientLearner, params, episode: Episode) -> torch.Tensor:
    """Query loss after 0..STEPS inner updates of one task."""
    losses = [run.query_fn(run.inner.at_step(params, 0), episode)[0]]
    for step in range(STEPS):
        params = run.inner.step(params, run.support_loss, episode, step)
        losses.append(run.query_fn(run.inner.at_step(params, step + 1), episode)[0])
    return torch.stack(losses)


def test_per_step_tensors_have_one_entry_per_step_and_do_not_adapt():
    run = learner()
    norms = [m for m in run.model.modules() if isinstance(m, PerStepBatchNorm2d)]
    assert len(norms) == 2
    for norm in norms:
        for tensor in (norm.weight, norm.bias, norm.running_mean, norm.running_var):
            assert tensor.shape == (STEPS + 1, HIDDEN)
    assert run.inner.adapted_names == [
        "features.0.0.weight",
        "features.0.0.bias",
        "features.1.0.weight",
        "features.1.0.bias",
        "head.weight",
        "head.bias",
    ]
    viewed = run.inner.at_step(run.params, 7)  # beyond the trained steps: the last entry
    assert torch.equal(viewed["features.0.1.weight"], run.params["features.0.1.weight"][STEPS])
    assert viewed["head.weight"] is run.params["head.weight"]
    with pytest.raises(RuntimeError, match="one step's weights"):
        run.model(episodes().support_x[0])


@pytest.mark.parametrize("entry", range(STEPS + 1))
def test_step_k_uses_the_batch_norm_weights_of_step_k(entry):
    run = learner()
    episode = tree_index(episodes(), 0)
    params = {name: p.detach().clone() for name, p in run.params.items()}
    before = query_losses(run, params, episode)
    params["features.1.1.weight"][entry] += 0.3
    after = query_losses(run, params, episode)
    # Entry j is seen after j updates: losses before it stay, the loss at j and later change
    # (later ones through the support gradients of step j).
    assert torch.equal(before[:entry], after[:entry])
    assert (before[entry:] - after[entry:]).abs().min() > 1e-5


@pytest.mark.usefixtures("double_precision")
def test_meta_gradient_of_per_step_weights_matches_finite_differences():
    run = learner(multi_step_loss=10)
    batch = episodes(n_tasks=1)
    weights = torch.tensor([0.3, 0.7])

    def objective() -> torch.Tensor:
        losses, _ = meta_objective(
            run.params,
            run.inner,
            run.support_loss,
            run.query_fn,
            batch,
            batch,
            vectorize=False,
            step_weights=weights,
        )
        return losses.sum()

    objective().backward()
    eps = 1e-6
    for name in ("features.0.1.weight", "features.1.1.bias", "features.0.0.weight"):
        tensor = run.params[name]
        for index in [(0, 1), (1, 2), (2, 0)] if tensor.dim() == 2 else [(0, 0, 1, 1)]:
            with torch.no_grad():
                tensor[index] += eps
                plus = objective()
                tensor[index] -= 2 * eps
                minus = objective()
                tensor[index] += eps
            numeric = (plus - minus) / (2 * eps)
            assert tensor.grad[index].item() == pytest.approx(numeric.item(), rel=1e-5, abs=1e-9)
    assert run.params["features.1.1.weight"].grad[STEPS].abs().sum() > 0  # the query's entry


def test_vmapped_and_sequential_meta_gradients_agree():
    runs = [learner(vectorize=vectorize) for vectorize in (True, False)]
    for run in runs:
        run.meta_step(episodes())
    for name, value in runs[0].params.items():  # conv biases before a norm: gradient ~0
        assert torch.allclose(value.grad, runs[1].params[name].grad, atol=1e-6), name


def test_running_statistics_of_step_j_follow_the_inputs_seen_after_j_updates():
    run = learner()
    norm = run.model.features[0][1]
    batch = episodes(n_tasks=2)
    run.record_norm_statistics(batch)  # the first task's images
    episode = tree_index(batch, 0)
    params = {name: p.detach() for name, p in run.params.items()}
    for step in range(STEPS + 1):
        mean, var = torch.zeros(HIDDEN), torch.ones(HIDDEN)
        viewed = run.inner.at_step(params, step)
        for images in (episode.support_x, episode.query_x):
            x = torch.nn.functional.conv2d(
                images, viewed["features.0.0.weight"], viewed["features.0.0.bias"], padding=1
            )
            mean = 0.9 * mean + 0.1 * x.mean((0, 2, 3))
            var = 0.9 * var + 0.1 * x.var((0, 2, 3))
        assert torch.allclose(norm.running_mean[step], mean, atol=1e-6)
        assert torch.allclose(norm.running_var[step], var, atol=1e-6)
        params = run.inner.step(params, run.support_loss, episode, step) if step < STEPS else None


def test_only_the_recorded_step_moves_and_the_meta_update_records_nothing_itself():
    run = learner()
    norm = run.model.features[1][1]
    run.outer.step(run.support_loss, run.query_fn, episodes(), episodes())
    assert torch.equal(norm.running_mean, torch.zeros(STEPS + 1, HIDDEN))
    with torch.no_grad(), recording_statistics(run.model, 1):
        run.forward(run.inner.at_step(run.params, 1), episodes().query_x[0])
    assert norm.record_step is None
    assert torch.equal(norm.running_mean[[0, 2]], torch.zeros(2, HIDDEN))
    assert torch.equal(norm.running_var[[0, 2]], torch.ones(2, HIDDEN))
    assert not torch.equal(norm.running_mean[1], torch.zeros(HIDDEN))


def test_eval_mode_normalises_with_the_given_running_statistics():
    norm = PerStepBatchNorm2d(2, steps=1).eval()
    mean, var = torch.tensor([0.5, -1.0]), torch.tensor([4.0, 0.25])
    weight, bias = torch.tensor([2.0, 1.0]), torch.tensor([0.0, 1.0])
    x = torch.randn(3, 2, 2, 2)
    sliced = {"weight": weight, "bias": bias, "running_mean": mean, "running_var": var}
    got = torch.func.functional_call(norm, sliced, (x,))
    want = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-5)
    assert torch.allclose(got, want * weight[:, None, None] + bias[:, None, None])


def test_running_statistics_at_test_change_the_curve_and_leave_training_mode_on():
    batch = episodes()
    curves = {}
    for stats in ("batch", "running"):
        run = learner(norm_at_test=stats)
        curves[stats] = run.adaptation_curve(batch, 3)
        assert run.model.training
    assert curves["batch"].shape == (2, 4)
    assert not torch.equal(curves["batch"], curves["running"])


def test_configs_without_per_step_norm_are_unchanged():
    plain = ConvNet(ways=WAYS, hidden=HIDDEN)
    assert not list(plain.buffers())
    assert all(isinstance(block[1], BatchStatNorm2d) for block in plain.features[:-1])
    run = learner(per_step_norm=False)
    assert run.inner.at_step(run.params, 1) is run.params
    for path in sorted(EXPERIMENTS.glob("*.toml")):
        config = resolve_config(read_toml(path), ['data.data_dir="x"'])[1]
        assert isinstance(config, FewShotExperiment)
        assert config.learner.per_step_norm == ("mamlpp" in path.name), path.name


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"algorithm": "reptile", "inner_lr": 0.1}, "per_step_norm"),
        ({"per_step_norm": False, "norm_at_test": "running"}, "needs per_step_norm"),
    ],
)
def test_bad_per_step_norm_settings_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        LearnerConfig(**{"per_step_norm": True, **overrides})
