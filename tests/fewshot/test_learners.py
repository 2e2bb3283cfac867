"""Few-shot learners on tiny problems: ProtoNet logits, adaptation curves, and meta-updates."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metarl.core import make_functional, tree_index
from metarl.fewshot.config import LearnerConfig
from metarl.fewshot.episodes import Episode
from metarl.fewshot.learners import GradientLearner, PrototypicalLearner, prototype_logits
from metarl.fewshot.models import BatchStatNorm2d, ConvNet, SinusoidMLP
from metarl.fewshot.sinusoid import SinusoidTasks

WAYS = 3


def sinusoid_learner(algorithm: str = "maml", seed: int = 0, **overrides) -> GradientLearner:
    torch.manual_seed(seed)
    config = LearnerConfig(**{"inner_lr": 0.05, "outer_lr": 0.01, **overrides}, algorithm=algorithm)
    return GradientLearner(SinusoidMLP(hidden=8), config, "mse")


def conv_learner(algorithm: str = "maml", seed: int = 0, **overrides) -> GradientLearner:
    torch.manual_seed(seed)
    config = LearnerConfig(**{"inner_lr": 0.4, "outer_lr": 0.01, **overrides}, algorithm=algorithm)
    return GradientLearner(ConvNet(ways=WAYS, hidden=8), config, "accuracy")


def sinusoid_batch(n_tasks: int = 4, seed: int = 0) -> Episode:
    return SinusoidTasks().sample(np.random.default_rng(seed), n_tasks, shots=5, queries=6)


def image_batch(n_tasks: int = 2, shots: int = 2, queries: int = 3, seed: int = 0) -> Episode:
    """Random 16×16 images (1×1 after four pools, like 28×28); labels grouped by class."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(WAYS)
    return Episode(
        support_x=torch.rand(n_tasks, WAYS * shots, 1, 16, 16, generator=generator),
        support_y=labels.repeat_interleave(shots).expand(n_tasks, -1),
        query_x=torch.rand(n_tasks, WAYS * queries, 1, 16, 16, generator=generator),
        query_y=labels.repeat_interleave(queries).expand(n_tasks, -1),
    )


def snapshot(learner: GradientLearner | PrototypicalLearner) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in learner.model.named_parameters()}


def metric_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    outputs = model(x)
    if metric == "mse":
        return F.mse_loss(outputs, y)
    return (outputs.argmax(-1) == y).float().mean()


# Prototypical Networks ------------------------------------------------------------------------


class TinyEmbedding(nn.Module):
    """What PrototypicalLearner needs of a model: ``features`` (and an unused ``head``)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Linear(4, 3)
        self.head = nn.Linear(3, WAYS)


def vector_batch(n_tasks: int = 2, shots: int = 3, queries: int = 4) -> Episode:
    """4-dimensional inputs with support labels in shuffled order."""
    generator = torch.Generator().manual_seed(0)
    support_y = torch.stack(
        [torch.randperm(WAYS * shots, generator=generator) % WAYS for _ in range(n_tasks)]
    )
    return Episode(
        support_x=torch.randn(n_tasks, WAYS * shots, 4, generator=generator),
        support_y=support_y,
        query_x=torch.randn(n_tasks, WAYS * queries, 4, generator=generator),
        query_y=torch.arange(WAYS).repeat(queries).expand(n_tasks, -1),
    )


def closed_form_logits(embed: nn.Module, episode: Episode) -> torch.Tensor:
    """−‖f(x_q) − mean_{i: y_i = c} f(x_i)‖² for every query q and class c, by explicit loops."""
    support, query = embed(episode.support_x), embed(episode.query_x)
    logits = torch.empty(query.shape[0], WAYS)
    for c in range(WAYS):
        prototype = support[episode.support_y == c].mean(0)
        for q in range(query.shape[0]):
            logits[q, c] = -((query[q] - prototype) ** 2).sum()
    return logits


def test_protonet_logits_are_negative_squared_distances_to_class_means():
    model = TinyEmbedding()
    episodes = vector_batch()
    for t in range(2):
        episode = tree_index(episodes, t)
        got = prototype_logits(model.features, episode, WAYS)
        torch.testing.assert_close(got, closed_form_logits(model.features, episode))


def test_protonet_loss_accuracy_and_update_use_the_closed_form():
    torch.manual_seed(0)
    model = TinyEmbedding()
    learner = PrototypicalLearner(model, LearnerConfig(algorithm="protonet", outer_lr=0.01))
    episodes = vector_batch()
    with torch.no_grad():
        per_task = [closed_form_logits(model.features, tree_index(episodes, t)) for t in range(2)]
    logits = torch.stack(per_task)
    accuracy = (logits.argmax(-1) == episodes.query_y).float().mean(-1)
    loss = F.cross_entropy(logits.transpose(1, 2), episodes.query_y, reduction="none").mean(-1)

    curve = learner.adaptation_curve(episodes, steps=5)
    assert curve.shape == (2, 1)  # no inner loop, whatever the steps asked for
    torch.testing.assert_close(curve[:, 0], accuracy)
    before = snapshot(learner)
    summary = learner.meta_step(episodes)
    assert summary["loss"] == pytest.approx(loss.mean().item(), rel=1e-5)
    after = snapshot(learner)
    assert all(not torch.equal(before[n], after[n]) for n in ("features.weight", "features.bias"))
    assert all(torch.equal(before[n], after[n]) for n in ("head.weight", "head.bias"))


# Adaptation curves of gradient learners -------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile", "anil", "metasgd"])
@pytest.mark.parametrize("dataset", ["sinusoid", "images"])
def test_curve_starts_at_the_unadapted_models_query_metric(algorithm, dataset):
    if dataset == "sinusoid":
        learner, episodes, metric = sinusoid_learner(algorithm), sinusoid_batch(), "mse"
    else:
        learner, episodes, metric = conv_learner(algorithm), image_batch(), "accuracy"
    before = snapshot(learner)
    curve = learner.adaptation_curve(episodes, steps=2)
    assert curve.shape == (episodes.query_x.shape[0], 3)
    with torch.no_grad():
        expected = torch.stack(
            [
                metric_of(learner.model, episodes.query_x[t], episodes.query_y[t], metric)
                for t in range(episodes.query_x.shape[0])
            ]
        )
    torch.testing.assert_close(curve[:, 0], expected)
    after = snapshot(learner)
    assert all(torch.equal(before[n], after[n]) for n in before)  # evaluation trains nothing
    assert all(p.grad is None for p in learner.model.parameters())


def manual_sgd_step(learner: GradientLearner, episode: Episode) -> torch.Tensor:
    """Query MSE after one step θ − α∘∇L_support(θ), with α the learner's (learned) sizes."""
    forward = make_functional(learner.model)
    params = {n: p.detach().requires_grad_() for n, p in learner.params.items()}
    loss = F.mse_loss(forward(params, episode.support_x), episode.support_y)
    grads = torch.autograd.grad(loss, list(params.values()))
    adapted = {
        name: p - learner.inner.step_size(name, 0) * g
        for (name, p), g in zip(params.items(), grads, strict=True)
    }
    return F.mse_loss(forward(adapted, episode.query_x), episode.query_y).detach()


@pytest.mark.parametrize("algorithm", ["maml", "metasgd"])
def test_curve_after_one_step_is_one_sgd_step_with_the_learners_step_sizes(algorithm):
    learner = sinusoid_learner(algorithm)
    with torch.no_grad():  # make Meta-SGD's α differ across entries
        for alpha in learner.inner.step_sizes.values():
            alpha.uniform_(0.0, 0.1)
    episodes = sinusoid_batch()
    curve = learner.adaptation_curve(episodes, steps=1)
    expected = torch.stack([manual_sgd_step(learner, tree_index(episodes, t)) for t in range(4)])
    torch.testing.assert_close(curve[:, 1], expected)
    assert (curve[:, 1] < curve[:, 0]).any()


# Meta-updates --------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [sinusoid_learner, conv_learner])
def test_vectorized_and_sequential_maml_updates_agree(make):
    batch = sinusoid_batch() if make is sinusoid_learner else image_batch()
    learners = [make("maml", vectorize=v) for v in (True, False)]
    summaries = [learner.meta_step(batch) for learner in learners]
    assert summaries[0] == pytest.approx(summaries[1], rel=1e-5)
    fast, slow = learners[0].model.parameters(), learners[1].model.parameters()
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6)
    if make is sinusoid_learner:  # (ConvNet's conv biases get gradients of zero and noise)
        for _ in range(2):  # later steps also compare Adam's state
            learners[0].meta_step(batch), learners[1].meta_step(batch)
        for a, b in zip(fast, slow, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_meta_sgd_learns_its_step_sizes_and_maml_has_none():
    metasgd = sinusoid_learner("metasgd")
    alphas = {name: a.detach().clone() for name, a in metasgd.inner.step_sizes.items()}
    assert len(alphas) == len(metasgd.params)
    for name, p in metasgd.params.items():
        torch.testing.assert_close(alphas[name.replace(".", "__")], torch.full_like(p, 0.05))
    metasgd.meta_step(sinusoid_batch())
    for name, alpha in metasgd.inner.step_sizes.items():
        assert not torch.equal(alpha.detach(), alphas[name]), name

    maml = sinusoid_learner("maml")
    assert list(maml.inner.parameters()) == []
    trained = [p for group in maml.outer.optimizer.param_groups for p in group["params"]]
    assert len(trained) == len(maml.params)
    maml.meta_step(sinusoid_batch())
    assert maml.inner.step_size("net.0.weight", 0) == 0.05


@pytest.mark.parametrize("make, head", [(conv_learner, "head."), (sinusoid_learner, "net.4.")])
def test_anil_adapts_only_the_head_in_the_inner_loop(make, head):
    learner = make("anil")
    assert learner.inner.adapted_names == [head + "weight", head + "bias"]
    batch = sinusoid_batch() if make is sinusoid_learner else image_batch()
    params = {n: p.detach() for n, p in learner.params.items()}
    adapted = learner.inner.adapt_tasks(params, learner.support_loss, batch)
    for name, p in params.items():
        moved = (adapted[name] - p).abs().amax()
        assert (moved > 0) == name.startswith(head), name
    before = snapshot(learner)
    learner.meta_step(batch)  # ... but the meta-update trains the body too
    after = snapshot(learner)
    assert all(not torch.equal(before[n], after[n]) for n in before)


def test_reptile_moves_the_initialisation_towards_the_adapted_parameters():
    learner = sinusoid_learner("reptile", outer_optimizer="sgd", outer_lr=0.5, inner_steps=3)
    batch = sinusoid_batch()
    params = {n: p.detach().clone() for n, p in learner.params.items()}
    adapted = learner.inner.adapt_tasks(params, learner.support_loss, batch)
    learner.meta_step(batch)
    for name, p in learner.params.items():
        expected = params[name] + 0.5 * (adapted[name] - params[name]).mean(0)
        torch.testing.assert_close(p.detach(), expected)


@pytest.mark.parametrize("algorithm", ["metasgd", "reptile"])
def test_state_dict_round_trip_continues_identically(algorithm):
    batches = [sinusoid_batch(seed=s) for s in range(3)]
    original = sinusoid_learner(algorithm)
    for batch in batches[:2]:
        original.meta_step(batch)
    checkpoint = io.BytesIO()  # as a run directory stores it; no tensors shared in memory
    torch.save(original.state_dict(), checkpoint)
    checkpoint.seek(0)
    restored = sinusoid_learner(algorithm, seed=1)
    restored.load_state_dict(torch.load(checkpoint))
    assert original.meta_step(batches[2]) == restored.meta_step(batches[2])
    expected, got = snapshot(original), snapshot(restored)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)
    for name, alpha in original.inner.step_sizes.items():
        torch.testing.assert_close(restored.inner.step_sizes[name], alpha, rtol=0, atol=0)


# Batch norm under vmapped second-order MAML -------------------------------------------------


def test_batch_stat_norm_matches_torch_batch_norm():
    torch.manual_seed(0)
    reference = nn.BatchNorm2d(4, track_running_stats=False)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 2.0)
        reference.bias.uniform_(-1.0, 1.0)
    norm = BatchStatNorm2d(4)
    norm.load_state_dict(reference.state_dict())
    x = 3 * torch.randn(6, 4, 5, 5) + 1
    torch.testing.assert_close(norm(x), reference(x))
    assert list(norm.buffers()) == []


def test_vmapped_maml_meta_gradient_of_conv_biases_is_zero():
    """Batch norm removes a per-channel shift, so the loss, at any θ, ignores the conv biases
    before it: their meta-gradient is exactly zero (nn.BatchNorm2d's fused kernel gets this
    wrong under vmap, by about 1% of the weights' gradient)."""
    learner = conv_learner("maml", vectorize=True)
    learner.meta_step(image_batch())
    weight_scale = learner.model.features[0][0].weight.grad.abs().max()
    for block in learner.model.features[:4]:
        assert block[0].bias.grad.abs().max() < 1e-5 * weight_scale


def test_learned_inner_rule_starts_as_sgd_and_is_meta_trained():
    sgd = sinusoid_learner("maml", inner_steps=2)
    learned = sinusoid_learner("maml", inner_steps=2, inner_rule="learned")
    batch = sinusoid_batch()
    assert torch.allclose(sgd.adaptation_curve(batch, 2), learned.adaptation_curve(batch, 2))
    rule = learned.inner.rule
    assert rule is not None
    before = rule.readout.weight.detach().clone()
    learned.meta_step(batch)
    assert not torch.equal(rule.readout.weight, before)
    assert not torch.allclose(sgd.adaptation_curve(batch, 2), learned.adaptation_curve(batch, 2))
