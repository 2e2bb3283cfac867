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

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metarl.core import Params, make_functional, map_tasks, module_params
from metarl.fewshot.config import LearnerConfig
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


class SiameseLearner:
    """Trains a :class:`SiameseNet` on the same/different pairs of episodes; classifies queries
    by their best-matching support class. No inner loop: the curve has the point "0 steps"."""

    metric = "accuracy"

    def __init__(self, model: nn.Module, config: LearnerConfig, dim: int) -> None:
        self.model = SiameseNet(model.features, dim)
        self.net = make_functional(self.model)
        self.params = module_params(self.model)
        self.vectorize = config.vectorize
        optimizer_class = torch.optim.Adam if config.outer_optimizer == "adam" else torch.optim.SGD
        self.optimizer = optimizer_class(self.params.values(), lr=config.outer_lr)

    def _losses(self, episodes: Episode) -> tuple[Tensor, Tensor]:
        """Per-episode balanced pair cross-entropy and N-way query accuracy."""
        ways = int(episodes.support_y.max().item()) + 1

        def episode_loss(params: Params, episode: Episode) -> tuple[Tensor, Tensor]:
            logits = self.net(params, episode.query_x, episode.support_x)
            same = (episode.query_y[:, None] == episode.support_y[None, :]).to(logits.dtype)
            weight = torch.ones_like(same) + (ways - 2) * same
            loss = F.binary_cross_entropy_with_logits(logits, same, weight)
            predicted = class_scores(logits, episode.support_y, ways).argmax(-1)
            return loss, (predicted == episode.query_y).float().mean()

        return map_tasks(episode_loss, (self.params, episodes), (False, True), self.vectorize)

    def meta_step(self, episodes: Episode) -> dict[str, float]:
        """One optimizer step on the mean pair loss of a meta-batch of episodes."""
        self.optimizer.zero_grad(set_to_none=True)
        losses, accuracy = self._losses(episodes)
        losses.mean().backward()
        self.optimizer.step()
        return {"loss": losses.mean().item(), "accuracy": accuracy.mean().item()}

    def adaptation_curve(self, episodes: Episode, steps: int) -> Tensor:
        """Query accuracy by nearest support class: ``[tasks, 1]`` (no gradient steps)."""
        del steps
        with torch.no_grad():
            return self._losses(episodes)[1][:, None]

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
