"""Siamese networks: the weighted L1 pair score, nearest-support classification, the balanced pair
loss and its update, against closed forms."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metarl.errors import ConfigError
from metarl.fewshot.config import DataConfig, FewShotExperiment, LearnerConfig
from metarl.fewshot.episodes import Episode
from metarl.fewshot.siamese import SiameseLearner, class_scores, pair_logits


class VectorNet(nn.Module):
    """A linear embedding of vectors, standing in for the conv net."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Linear(4, 3)


def vector_episodes(n_tasks: int = 2, ways: int = 3, shots: int = 2, queries: int = 2) -> Episode:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(ways)
    return Episode(
        support_x=torch.randn(n_tasks, ways * shots, 4, generator=g),
        support_y=labels.repeat_interleave(shots).expand(n_tasks, -1),
        query_x=torch.randn(n_tasks, ways * queries, 4, generator=g),
        query_y=labels.repeat_interleave(queries).expand(n_tasks, -1),
    )


def test_pair_logits_are_the_weighted_l1_distance():
    torch.manual_seed(0)
    distance = nn.Linear(3, 1)
    a, b = torch.randn(4, 3), torch.randn(5, 3)
    logits = pair_logits(a, b, distance)
    assert logits.shape == (4, 5)
    want = (a[2] - b[3]).abs() @ distance.weight[0] + distance.bias[0]
    assert torch.allclose(logits[2, 3], want)


def test_class_scores_average_each_class_support_logits():
    logits = torch.tensor([[1.0, 3.0, -2.0, 0.0]])
    scores = class_scores(logits, torch.tensor([0, 0, 1, 1]), 2)
    assert torch.allclose(scores, torch.tensor([[2.0, -1.0]]))


@pytest.mark.parametrize("vectorize", [True, False])
def test_loss_accuracy_and_update_follow_the_closed_form(vectorize):
    torch.manual_seed(0)
    learner = SiameseLearner(VectorNet(), LearnerConfig(outer_lr=0.1, vectorize=vectorize), 3)
    episodes = vector_episodes()
    model = learner.model
    losses, accuracies = [], []
    for t in range(2):
        e = Episode(*(field[t] for field in episodes.__dict__.values()))
        logits = pair_logits(model.features(e.query_x), model.features(e.support_x), model.distance)
        same = (e.query_y[:, None] == e.support_y[None, :]).float()
        weight = torch.where(same > 0, 2.0, 1.0)  # ways - 1 = 2 for positives
        losses.append(F.binary_cross_entropy_with_logits(logits, same, weight))
        scores = torch.stack([logits[:, e.support_y == c].mean(1) for c in range(3)], dim=1)
        accuracies.append((scores.argmax(1) == e.query_y).float().mean())
    want_loss = torch.stack(losses).mean()
    grads = torch.autograd.grad(want_loss, list(model.parameters()))
    before = [p.detach().clone() for p in model.parameters()]
    summary = learner.meta_step(episodes)
    assert summary["loss"] == pytest.approx(want_loss.item(), rel=1e-5)
    assert summary["accuracy"] == pytest.approx(torch.stack(accuracies).mean().item())
    # The L1 distance cancels the embedding's bias, so its gradient vanishes.
    assert grads[1].abs().max() < 1e-6
    # Adam's first step moves every other parameter by lr against the sign of its gradient.
    for p, p0, g in zip(model.parameters(), before, grads, strict=True):
        moved = g.abs() > 1e-6
        assert torch.allclose((p0 - p)[moved], 0.1 * torch.sign(g)[moved], atol=1e-5)


def test_training_on_pairs_raises_accuracy():
    torch.manual_seed(0)
    learner = SiameseLearner(VectorNet(), LearnerConfig(outer_lr=0.05), 3)
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(3, 4, generator=g) * 0.3

    def batch() -> Episode:
        e = vector_episodes(n_tasks=8)
        return Episode(
            e.support_x * 0.1 + centres[e.support_y],
            e.support_y,
            e.query_x * 0.1 + centres[e.query_y],
            e.query_y,
        )

    held_out = batch()
    before = learner.adaptation_curve(held_out, 0)
    assert before.shape == (8, 1)
    for _ in range(60):
        learner.meta_step(batch())
    assert learner.adaptation_curve(held_out, 0).mean() > max(0.9, before.mean())


def test_siamese_needs_a_classification_dataset():
    with pytest.raises(ConfigError, match="needs dataset = 'omniglot'"):
        FewShotExperiment(learner=LearnerConfig(algorithm="siamese"))
    FewShotExperiment(
        data=DataConfig(dataset="omniglot", data_dir="x", ways=20, test_ways=5),
        learner=LearnerConfig(algorithm="siamese"),
    )
