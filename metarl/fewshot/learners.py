"""Few-shot meta-learners: MAML, FOMAML, Reptile, ANIL and Meta-SGD on the shared core, and
Prototypical Networks.

The gradient-based learners differ only in how they configure :mod:`metarl.core`:

=========  ================================================================  ===================
learner    inner loop                                                        outer update
=========  ================================================================  ===================
maml       fixed α, second order (Finn et al. 2017)                          MAML
fomaml     fixed α, first order (Finn et al. 2017, §5.2)                     first-order MAML
reptile    fixed α or Adam, first order (Nichol et al. 2018)                 θ += ε·mean(φ − θ)
anil       only the head adapts (Raghu et al. 2020)                          MAML
metasgd    learned α per parameter entry (Li et al. 2017)                    MAML
=========  ================================================================  ===================

Any of maml, fomaml and anil can swap SGD for the core's learned LSTM rule
(``inner_rule = "learned"``, Andrychowicz et al. 2016), meta-trained by the same outer update.
Reptile as in its paper's code takes minibatches of the support set at each inner step
(``inner_batch``), Adam as the inner rule and a linearly annealed outer step
(``linear_iterations``). MAML++ (Antoniou et al. 2019) is maml with per-step rates, the
multi-step loss, derivative-order and cosine annealing and per-step batch norm, each a switch
of :class:`LearnerConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metarl.core import (
    InnerLoop,
    InnerLoopConfig,
    MetaOptimizer,
    Params,
    PerStep,
    make_functional,
    map_tasks,
    module_params,
    multi_step_weights,
    tree_index,
)
from metarl.fewshot.config import LearnerConfig
from metarl.fewshot.embedding_learner import EmbeddingLearner
from metarl.fewshot.episodes import Episode, minibatch_indices, support_minibatches
from metarl.fewshot.models import per_step_prefixes, recording_statistics, split_norm_affines

Metric = str  # "mse" or "accuracy"


def head_prefix(model: nn.Module) -> str:
    """Name prefix of the model's last linear layer (what ANIL adapts)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return names[-1] + "."


def prediction_loss(outputs: Tensor, targets: Tensor, metric: Metric) -> tuple[Tensor, Tensor]:
    """The training loss and the reported metric of predictions against targets."""
    if metric == "mse":
        loss = F.mse_loss(outputs, targets)
        return loss, loss.detach()
    loss = F.cross_entropy(outputs, targets)
    return loss, (outputs.argmax(-1) == targets).float().mean()


class GradientLearner:
    """A meta-learned initialisation adapted by gradient steps (MAML family, Reptile).

    With ``config.vectorize`` the model's batch norms are switched to their vmap-safe split
    affine form (:func:`~metarl.fewshot.models.split_norm_affines`)."""

    def __init__(self, model: nn.Module, config: LearnerConfig, metric: Metric) -> None:
        algorithm = config.algorithm
        default_step_size = "per_parameter" if algorithm == "metasgd" else "fixed"
        step_size = config.inner_step_size or default_step_size
        inner_config = InnerLoopConfig(
            steps=config.inner_steps,
            lr=config.inner_lr,
            step_size=step_size,
            first_order=algorithm in ("fomaml", "reptile"),
            adapt_only=(head_prefix(model),) if algorithm == "anil" else (),
            rule=config.inner_rule,
            truncation=config.truncation,
            per_step=per_step_prefixes(model),
            adam_betas=config.inner_betas,
            adam_carry=config.inner_adam_carry,
        )
        if config.vectorize:
            split_norm_affines(model)
        self.model = model
        self.metric = metric
        self.params = module_params(model)
        self.inner = InnerLoop(self.params, inner_config)
        outer_algorithm = {"fomaml": "fomaml", "reptile": "reptile"}.get(algorithm, "maml")
        self.outer = MetaOptimizer(
            self.params,
            self.inner,
            outer_algorithm,
            config.outer_lr,
            config.outer_optimizer,
            config.vectorize,
        )
        self.vectorize = config.vectorize
        self.config = config
        self.iteration = 0
        self.schedule = outer_lr_schedule(self.outer.optimizer, config)
        self.shuffle = torch.Generator()
        """Draws the inner minibatches of meta-training (checkpointed)."""
        if config.inner_batch:
            self.shuffle.manual_seed(int(torch.randint(2**62, ())))
        forward = make_functional(model)

        def support_loss(params: Params, episode: Episode) -> Tensor:
            return prediction_loss(forward(params, episode.support_x), episode.support_y, metric)[0]

        def query_fn(params: Params, episode: Episode) -> tuple[Tensor, dict[str, Tensor]]:
            loss, value = prediction_loss(forward(params, episode.query_x), episode.query_y, metric)
            return loss, {metric: value}

        self.forward = forward
        self.support_loss = support_loss
        self.query_fn = query_fn

    def meta_step(self, episodes: Episode) -> dict[str, float]:
        """One outer update from a meta-batch of episodes; returns query loss and metric.

        Applies MAML++'s schedules where configured: derivative-order annealing, the annealed
        multi-step loss and the cosine outer learning rate.
        """
        config = self.config
        if config.first_order_iterations:
            self.inner.first_order = self.iteration < config.first_order_iterations
        weights = None
        if config.multi_step_loss and config.inner_steps > 1:
            progress = self.iteration / config.multi_step_loss
            weights = multi_step_weights(config.inner_steps, progress)
        support: Episode | PerStep = episodes
        if config.inner_batch:
            n_tasks, n_examples = episodes.support_y.shape[:2]
            indices = torch.stack(
                [
                    minibatch_indices(
                        n_examples, config.inner_steps, config.inner_batch, self.shuffle
                    )
                    for _ in range(n_tasks)
                ]
            )
            support = PerStep(support_minibatches(episodes, indices))
        summary = self.outer.step(self.support_loss, self.query_fn, support, episodes, weights)
        if config.per_step_norm:
            self.record_norm_statistics(episodes)
        summary["outer_lr"] = self.outer.optimizer.param_groups[0]["lr"]
        annealed = config.cosine_iterations or config.linear_iterations
        if self.schedule is not None and self.iteration < annealed:
            self.schedule.step()
        self.iteration += 1
        return summary

    def record_norm_statistics(self, episodes: Episode) -> None:
        """MAML++'s per-step running statistics ("BNRS"): fold the batch statistics of the
        support and query images of the meta-batch's first task, under the parameters after
        ``j`` inner updates, into running statistics ``j``, for j = 0..K.

        One task per meta-iteration (the authors' code folds in every forward pass of every
        task) keeps this extra adaptation cheap; with momentum 0.1 the statistics still average
        over the last few dozen tasks."""
        task_params = {name: p.detach() for name, p in self.params.items()}
        episode = tree_index(episodes, 0)
        steps = self.config.inner_steps
        with torch.no_grad():
            for step in range(steps + 1):
                with recording_statistics(self.model, step):
                    viewed = self.inner.at_step(task_params, step)
                    self.forward(viewed, episode.support_x)
                    self.forward(viewed, episode.query_x)
                if step < steps:
                    task_params = self.inner.step(task_params, self.support_loss, episode, step)

    def adaptation_curve(self, episodes: Episode, steps: int) -> Tensor:
        """The query metric of each episode after 0..``steps`` inner steps: ``[tasks, steps+1]``.

        With ``norm_at_test = "running"`` the per-step batch norms normalise with their running
        statistics (the model is in eval mode for the call). With ``eval_inner_batch`` every
        episode takes the same sequence of minibatch positions (from seed 0), so its result does
        not depend on the episodes it is evaluated with."""
        params = {name: p.detach() for name, p in self.params.items()}
        running = self.config.norm_at_test == "running"
        if running:
            params.update(self.model.named_buffers())
        per_step = [episodes] * steps
        batch = self.config.eval_inner_batch
        if batch and steps:
            n_examples = episodes.support_y.shape[1]
            indices = minibatch_indices(n_examples, steps, batch, torch.Generator().manual_seed(0))
            per_step = support_minibatches(episodes, indices)

        def curve(task_params: Params, episode: Episode, step_data: list[Episode]) -> Tensor:
            values = [self.query_fn(self.inner.at_step(task_params, 0), episode)[1][self.metric]]
            for step in range(steps):
                task_params = self.inner.step(task_params, self.support_loss, step_data[step], step)
                viewed = self.inner.at_step(task_params, step + 1)
                values.append(self.query_fn(viewed, episode)[1][self.metric])
            return torch.stack(values)

        self.model.train(not running)
        try:
            with torch.no_grad():
                return map_tasks(
                    curve, (params, episodes, per_step), (False, True, True), self.vectorize
                )
        finally:
            self.model.train()

    def state_dict(self) -> dict[str, Any]:
        state = {"model": self.model.state_dict(), "outer": self.outer.state_dict()}
        state["iteration"] = self.iteration
        if self.config.inner_batch:
            state["shuffle"] = self.shuffle.get_state()
        if self.schedule is not None:
            state["schedule"] = self.schedule.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.outer.load_state_dict(state["outer"])
        self.iteration = state.get("iteration", 0)
        if self.config.inner_batch:
            self.shuffle.set_state(state["shuffle"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])


def outer_lr_schedule(
    optimizer: torch.optim.Optimizer, config: LearnerConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """MAML++'s cosine annealing or Reptile's linear annealing to 0 of the outer lr, if set."""
    if config.cosine_iterations:
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, config.cosine_iterations, config.min_outer_lr
        )
    if config.linear_iterations:
        return torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0, end_factor=0.0, total_iters=config.linear_iterations
        )
    return None


def prototype_logits(embed: Callable[[Tensor], Tensor], episode: Episode, ways: int) -> Tensor:
    """Negative squared distances of query embeddings to class-mean support embeddings."""
    support = embed(episode.support_x)
    one_hot = F.one_hot(episode.support_y, ways).to(support.dtype)
    prototypes = one_hot.T @ support / one_hot.sum(0)[:, None]
    query = embed(episode.query_x)
    return -((query[:, None, :] - prototypes[None, :, :]) ** 2).sum(-1)


class PrototypicalLearner(EmbeddingLearner):
    """Prototypical Networks (Snell et al. 2017): classify queries by the nearest class mean of
    the support embeddings (squared Euclidean distance); no inner loop, so the adaptation curve
    has the single point "0 steps". Only the embedding (``model.features``) is trained."""

    def __init__(self, model: nn.Module, config: LearnerConfig) -> None:
        super().__init__(model, model.features, config)
        self.embed = make_functional(model.features)

    def episode_loss(self, params: Params, episode: Episode, ways: int) -> tuple[Tensor, Tensor]:
        """Query cross-entropy and accuracy against the support prototypes."""
        logits = prototype_logits(lambda x: self.embed(params, x), episode, ways)
        return prediction_loss(logits, episode.query_y, "accuracy")
