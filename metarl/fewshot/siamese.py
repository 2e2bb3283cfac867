"""Siamese networks for one-shot classification (Koch, Zemel & Salakhutdinov 2015).

Twin copies of one embedding map two images to ``h1, h2``; the probability that they show the
same class is ``σ(Σ_j α_j |h1_j − h2_j| + b)`` (the weighted L1 distance of the paper, eq. 1),
trained with binary cross-entropy on same/different pairs. An N-way episode is solved by giving
each query the class of the support image it most probably matches (with several shots, the mean
score of each class's support images).

Differences from the paper, to share the episode pipeline and embedding of the other learners:
pairs are every (query, support) pair of training episodes rather than a separate pair set, with
the positive pairs up-weighted by ``ways − 1`` so same and different pairs weigh equally; the
embedding is the 4-block conv net of the other Omniglot learners (not Koch's larger net with a
4096-unit sigmoid layer); Adam instead of SGD with momentum and per-layer rates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metarl.core import Params, make_functional
from metarl.fewshot.config import LearnerConfig
from metarl.fewshot.embedding_learner import EmbeddingLearner
from metarl.fewshot.episodes import Episode


class SiameseNet(nn.Module):
    """An embedding and the learned weights ``α, b`` of the L1 distance between two embeddings.

    Args:
        features: maps ``[n, ...]`` inputs to ``[n, dim]`` embeddings.
        dim: embedding size.
    """

    def __init__(self, features: nn.Module, dim: int) -> None:
        super().__init__()
        self.features = features
        self.distance = nn.Linear(dim, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Logits ``[n, m]`` that each of ``n`` inputs ``x`` shows the class of each of ``m``
        inputs ``y``."""
        return pair_logits(self.features(x), self.features(y), self.distance)


def pair_logits(a: Tensor, b: Tensor, distance: nn.Module) -> Tensor:
    """``α·|a_i − b_j| + b`` for all pairs: ``[n, dim], [m, dim] → [n, m]``."""
    return distance((a[:, None, :] - b[None, :, :]).abs()).squeeze(-1)


def class_scores(logits: Tensor, support_y: Tensor, ways: int) -> Tensor:
    """Mean same-class logit of each query against each class's support images: ``[n, ways]``."""
    one_hot = F.one_hot(support_y, ways).to(logits.dtype)
    return logits @ one_hot / one_hot.sum(0)


class SiameseLearner(EmbeddingLearner):
    """Trains a :class:`SiameseNet` on the same/different pairs of episodes; classifies queries
    by their best-matching support class. No inner loop: the curve has the point "0 steps"."""

    def __init__(self, model: nn.Module, config: LearnerConfig, dim: int) -> None:
        net = SiameseNet(model.features, dim)
        super().__init__(net, net, config)
        self.net = make_functional(net)

    def episode_loss(self, params: Params, episode: Episode, ways: int) -> tuple[Tensor, Tensor]:
        """Balanced pair cross-entropy and N-way query accuracy."""
        logits = self.net(params, episode.query_x, episode.support_x)
        same = (episode.query_y[:, None] == episode.support_y[None, :]).to(logits.dtype)
        weight = torch.ones_like(same) + (ways - 2) * same
        loss = F.binary_cross_entropy_with_logits(logits, same, weight)
        predicted = class_scores(logits, episode.support_y, ways).argmax(-1)
        return loss, (predicted == episode.query_y).float().mean()
