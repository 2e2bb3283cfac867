"""The shared half of learners that train an embedding without an inner loop (Prototypical and
Siamese networks): an optimizer step on the mean per-episode query loss, and an adaptation curve
with the single point "0 steps"."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from metarl.core import Params, map_tasks, module_params
from metarl.fewshot.config import LearnerConfig
from metarl.fewshot.episodes import Episode


class EmbeddingLearner:
    """Trains the parameters of ``trained`` (part of ``model``, the module that is checkpointed)
    on :meth:`episode_loss`, with the config's outer optimizer and learning rate."""

    metric = "accuracy"

    def __init__(self, model: nn.Module, trained: nn.Module, config: LearnerConfig) -> None:
        self.model = model
        self.params = module_params(trained)
        self.vectorize = config.vectorize
        optimizer_class = torch.optim.Adam if config.outer_optimizer == "adam" else torch.optim.SGD
        self.optimizer = optimizer_class(self.params.values(), lr=config.outer_lr)

    def episode_loss(self, params: Params, episode: Episode, ways: int) -> tuple[Tensor, Tensor]:
        """The query loss and accuracy of one ``ways``-way episode under ``params``."""
        raise NotImplementedError

    def _losses(self, episodes: Episode) -> tuple[Tensor, Tensor]:
        """Per-episode query loss and accuracy of a meta-batch."""
        ways = int(episodes.support_y.max().item()) + 1

        def one_episode(params: Params, episode: Episode) -> tuple[Tensor, Tensor]:
            return self.episode_loss(params, episode, ways)

        return map_tasks(one_episode, (self.params, episodes), (False, True), self.vectorize)

    def meta_step(self, episodes: Episode) -> dict[str, float]:
        """One optimizer step on the mean query loss of a meta-batch."""
        self.optimizer.zero_grad(set_to_none=True)
        losses, accuracy = self._losses(episodes)
        losses.mean().backward()
        self.optimizer.step()
        return {"loss": losses.mean().item(), "accuracy": accuracy.mean().item()}

    def adaptation_curve(self, episodes: Episode, steps: int) -> Tensor:
        """Query accuracy without gradient steps: ``[tasks, 1]``."""
        del steps
        with torch.no_grad():
            return self._losses(episodes)[1][:, None]

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
