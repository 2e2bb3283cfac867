"""Few-shot experiments for the CLI: build a trainer from a config, evaluate adaptation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from metarl.errors import DataError
from metarl.experiment import EvaluateOptions
from metarl.fewshot.config import FewShotExperiment
from metarl.fewshot.episodes import Episode
from metarl.fewshot.learners import GradientLearner, PrototypicalLearner
from metarl.fewshot.models import ConvNet, SinusoidMLP
from metarl.fewshot.omniglot import OmniglotTasks
from metarl.fewshot.siamese import SiameseLearner
from metarl.fewshot.sinusoid import SinusoidTasks
from metarl.plotting import plot_adaptation_curves
from metarl.runs import RunDir
from metarl.stats import summarize_curve

SCHEMA = FewShotExperiment

EVAL_STREAM = 2**31 - 1
"""Evaluation episode ``i`` comes from ``default_rng([seed, EVAL_STREAM, split, i])``, a stream
that meta-training (``default_rng([seed, iteration])``) never reaches."""


class EpisodeSource:
    """Samples the episodes of one split of a config's dataset."""

    def __init__(self, config: FewShotExperiment, split: str) -> None:
        data = config.data
        self.ways, self.shots, self.queries = data.episode_shape(split)
        if data.dataset == "sinusoid":
            self.tasks: SinusoidTasks | OmniglotTasks = SinusoidTasks()
            return
        self.tasks = OmniglotTasks.load(
            Path(data.data_dir or ""),
            split,
            image_size=data.image_size,
            augment_rotations=data.augment_rotations,
            protocol=data.protocol,
        )
        if self.ways > self.tasks.n_classes:
            raise DataError(
                f"{self.ways}-way episodes need {self.ways} classes but the Omniglot {split} "
                f"split has {self.tasks.n_classes}"
            )

    def sample(self, rng: np.random.Generator, n_tasks: int) -> Episode:
        if isinstance(self.tasks, SinusoidTasks):
            return self.tasks.sample(rng, n_tasks, self.shots, self.queries)
        return self.tasks.sample(rng, n_tasks, self.ways, self.shots, self.queries)


def build_model(config: FewShotExperiment) -> torch.nn.Module:
    """The config's model: the sinusoid MLP or the Omniglot ConvNet (freshly initialised)."""
    hidden = config.learner.hidden
    if config.data.dataset == "sinusoid":
        return SinusoidMLP(hidden=hidden or 40)
    learner = config.learner
    return ConvNet(
        ways=config.data.ways,
        hidden=hidden or 64,
        strided=learner.strided,
        norm_steps=learner.inner_steps + 1 if learner.per_step_norm else 0,
    )


class FewShotTrainer:
    """Meta-trains a few-shot learner on episodes of the training split."""

    def __init__(self, config: FewShotExperiment) -> None:
        self.config = config
        torch.manual_seed(config.run.seed)
        learner_config = config.learner
        model = build_model(config)
        self.metric = "mse" if config.data.dataset == "sinusoid" else "accuracy"
        if learner_config.algorithm == "protonet":
            self.learner: GradientLearner | PrototypicalLearner | SiameseLearner = (
                PrototypicalLearner(model, learner_config)
            )
        elif learner_config.algorithm == "siamese":
            self.learner = SiameseLearner(model, learner_config, learner_config.hidden or 64)
        else:
            self.learner = GradientLearner(model, learner_config, self.metric)
        self.episodes = EpisodeSource(config, "train")

    def train_iteration(self, iteration: int, rng: np.random.Generator) -> dict[str, float]:
        del iteration
        started = time.perf_counter()
        batch = self.episodes.sample(rng, self.config.learner.meta_batch_size)
        summary = self.learner.meta_step(batch)
        elapsed = time.perf_counter() - started
        scalars = {f"meta_train/{name}": value for name, value in summary.items()}
        scalars["time/tasks_per_s"] = self.config.learner.meta_batch_size / elapsed
        return scalars

    def state_dict(self) -> dict[str, Any]:
        return self.learner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state)


def build_trainer(config: FewShotExperiment) -> FewShotTrainer:
    """A fresh trainer for ``config`` (checks the data before anything is written)."""
    return FewShotTrainer(config)


def evaluation_episodes(source: EpisodeSource, seed: int, split: str, indices: range) -> Episode:
    """The held-out episodes with the given indices, stacked. Episode ``i`` is drawn from
    ``default_rng([seed, EVAL_STREAM, split == "test", i])`` alone, so it is the same whatever
    the number of episodes evaluated or the batch they are adapted in."""
    episodes = [
        source.sample(np.random.default_rng([seed, EVAL_STREAM, split == "test", index]), 1)
        for index in indices
    ]
    return Episode(
        *(torch.cat([getattr(e, name) for e in episodes]) for name in Episode.__dataclass_fields__)
    )


def adaptation_curves(
    trainer: FewShotTrainer, split: str, n_tasks: int, steps: int, batch: int
) -> np.ndarray:
    """The metric of ``n_tasks`` held-out episodes after 0..``steps`` steps: ``[tasks, K+1]``.

    Episodes are adapted ``batch`` at a time; each one's result depends only on the run seed
    and its index (see :func:`evaluation_episodes`).
    """
    source = EpisodeSource(trainer.config, split)
    chunks = []
    with tqdm(total=n_tasks, desc=f"evaluate ({split})", unit="task") as bar:
        for start in range(0, n_tasks, batch):
            indices = range(start, min(start + batch, n_tasks))
            episodes = evaluation_episodes(source, trainer.config.run.seed, split, indices)
            curve = trainer.learner.adaptation_curve(episodes, steps)
            chunks.append(curve.double().numpy())
            bar.update(len(indices))
    return np.concatenate(chunks)


def evaluate(
    config: FewShotExperiment, trainer: FewShotTrainer, run: RunDir, options: EvaluateOptions
) -> dict[str, Any]:
    """Adaptation curve on held-out episodes → evaluation.json and adaptation.png."""
    steps = config.eval.steps if options.steps is None else options.steps
    n_tasks = options.tasks or config.eval.tasks
    started = time.perf_counter()
    per_task = adaptation_curves(trainer, options.split, n_tasks, steps, config.eval.batch)
    ways, shots, queries = config.data.episode_shape(options.split)
    result = {
        "metric": trainer.metric,
        "split": options.split,
        "algorithm": config.learner.algorithm,
        "dataset": config.data.dataset,
        "ways": None if config.data.dataset == "sinusoid" else ways,
        "shots": shots,
        "queries": queries,
        "adaptation_steps": list(range(per_task.shape[1])),
        **summarize_curve(per_task),
        "n_tasks": n_tasks,
        "eval_seconds": time.perf_counter() - started,
    }
    run.write_json("evaluation.json", result)
    title = f"{config.learner.algorithm} on {config.data.dataset} ({options.split} split)"
    plot_adaptation_curves(
        [(config.learner.algorithm, result)], trainer.metric, run.path / "adaptation.png", title
    )
    return result
