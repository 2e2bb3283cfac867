"""The config schema of supervised few-shot experiments (``kind = "fewshot"``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from metarl.config import RunConfig, require_at_least
from metarl.errors import ConfigError

Dataset = Literal["sinusoid", "omniglot"]
Algorithm = Literal["maml", "fomaml", "reptile", "anil", "metasgd", "protonet", "siamese"]
METRIC_LEARNERS: tuple[str, ...] = ("protonet", "siamese")
"""Learners that classify by comparing embeddings, with no inner loop and no N-way head."""
StepSize = Literal["fixed", "per_parameter", "per_step"]
NormStats = Literal["batch", "running"]
InnerRule = Literal["sgd", "learned", "adam"]


@dataclass(frozen=True)
class DataConfig:
    """Which tasks, and how episodes are cut from them.

    Attributes:
        dataset: "sinusoid" (regression, MAML §5.1) or "omniglot" (classification).
        data_dir: the ``omniglot-py`` folder (Omniglot only; also ``--data-dir``).
        ways: classes per training episode (Omniglot).
        shots: labelled examples per class (per task for sinusoid) to adapt on.
        queries: examples per class (per task for sinusoid) to evaluate the adapted model on.
        test_ways: ways of evaluation episodes (default: ``ways``).
        test_shots: shots of evaluation episodes (default: ``shots``).
        test_queries: queries of evaluation episodes (default: ``queries``).
        image_size: side of the resized Omniglot images.
        augment_rotations: add 90°/180°/270° rotations of each character as new classes.
        protocol: Omniglot character split: "lake" (background / evaluation sets, 964 / 659),
            "vinyals" (1,200 / 423 of the pooled characters, Vinyals et al.'s split files, the
            papers' protocol) or "random" (a seeded random 1,200 / 423 split).
    """

    dataset: Dataset = "sinusoid"
    data_dir: str | None = None
    ways: int = 5
    shots: int = 5
    queries: int = 10
    test_ways: int | None = None
    test_shots: int | None = None
    test_queries: int | None = None
    image_size: int = 28
    augment_rotations: bool = False
    protocol: Literal["lake", "vinyals", "random"] = "lake"

    def __post_init__(self) -> None:
        require_at_least(self, 1, "ways", "shots", "queries", "image_size")
        require_at_least(self, 1, "test_ways", "test_shots", "test_queries")

    def episode_shape(self, split: str) -> tuple[int, int, int]:
        """``(ways, shots, queries)`` of the episodes of ``split`` ("train" or "test")."""
        if split == "train":
            return self.ways, self.shots, self.queries
        return (
            self.test_ways or self.ways,
            self.test_shots or self.shots,
            self.test_queries or self.queries,
        )


@dataclass(frozen=True)
class LearnerConfig:
    """The meta-learner and its inner and outer loops.

    Attributes:
        algorithm: maml, fomaml, reptile, anil (adapts only the head), metasgd (learned
            per-parameter inner rates), protonet or siamese (no inner loop; Omniglot only).
        meta_batch_size: tasks per outer update.
        outer_lr: outer learning rate (Reptile's ε with the "sgd" optimizer).
        outer_optimizer: "adam" or "sgd".
        inner_lr: inner step size α (the initial value when learned).
        inner_steps: inner SGD steps during meta-training.
        inner_step_size: override of the step-size kind; "per_step" gives MAML++'s learned
            per-step, per-layer rates. Default: "per_parameter" for metasgd, else "fixed".
        inner_rule: "sgd"; "learned" for the coordinate-wise LSTM optimizer of Andrychowicz
            et al. 2016 (maml/fomaml/anil), meta-trained through the unrolled inner loop; or
            "adam", Reptile's inner Adam (Nichol et al. 2018; learning rate ``inner_lr``,
            betas ``inner_betas``, fresh moments per task; reptile/fomaml).
        inner_betas: the inner Adam's (β1, β2); (0, 0.999) as in Reptile's code.
        inner_adam_carry: reptile with the Adam rule: the inner Adam's moments and step count
            carry over from task to task instead of starting fresh, as in Reptile's code (its
            optimizer state is never reset); training tasks then adapt one after another, and
            evaluation adapts from the carried state (saved in checkpoints).
        inner_batch: examples per inner step, drawn from the support set in reshuffled passes
            as in Reptile's code; 0: the whole support set at every step.
        eval_inner_batch: the same at evaluation (Reptile's "eval batch"); 0: whole set.
        truncation: with the learned rule, truncate backpropagation every this many inner
            steps (0: through the whole unroll).
        multi_step_loss: MAML++ multi-step loss: the query loss after every inner step, with
            per-step weights annealed from uniform towards the last step over this many
            meta-iterations; 0: off (the loss after the last step only).
        first_order_iterations: MAML++ derivative-order annealing: first-order meta-gradients for
            this many meta-iterations, then second order (maml, anil, metasgd); 0: off.
        cosine_iterations: MAML++ cosine annealing of the outer lr from ``outer_lr`` to
            ``min_outer_lr`` over this many meta-iterations; 0: constant.
        min_outer_lr: the outer lr at the end of cosine annealing.
        linear_iterations: Reptile's linear annealing of the outer lr (its step size ε) from
            ``outer_lr`` to 0 over this many meta-iterations; 0: constant.
        per_step_norm: MAML++ per-step batch norm: learned batch-norm weights and biases for
            each inner step and one for after the last ("BNWB"), and running statistics
            collected per step ("BNRS"); Omniglot conv net, MAML outer losses only.
        norm_at_test: with ``per_step_norm``, what evaluation normalises with: "batch" (each
            batch's statistics, as in training and in MAML) or "running" (the per-step
            running statistics collected in training).
        hidden: hidden width (sinusoid MLP) or filters (Omniglot conv net).
        strided: Omniglot conv net with MAML's stride-2 convolutions instead of max-pools.
        vectorize: vmap the meta-batch over tasks (else loop over tasks; same results).
    """

    algorithm: Algorithm = "maml"
    meta_batch_size: int = 25
    outer_lr: float = 0.001
    outer_optimizer: Literal["adam", "sgd"] = "adam"
    inner_lr: float = 0.01
    inner_steps: int = 1
    inner_step_size: StepSize | None = None
    inner_rule: InnerRule = "sgd"
    inner_betas: tuple[float, float] = (0.0, 0.999)
    inner_adam_carry: bool = False
    inner_batch: int = 0
    eval_inner_batch: int = 0
    truncation: int = 0
    multi_step_loss: int = 0
    first_order_iterations: int = 0
    cosine_iterations: int = 0
    min_outer_lr: float = 1e-5
    linear_iterations: int = 0
    per_step_norm: bool = False
    norm_at_test: NormStats = "batch"
    hidden: int | None = None
    strided: bool = False
    vectorize: bool = True

    def __post_init__(self) -> None:
        require_at_least(self, 1, "meta_batch_size", "hidden")
        require_at_least(self, 0, "inner_steps")
        if self.outer_lr <= 0:
            raise ConfigError(f"outer_lr must be > 0, got outer_lr={self.outer_lr}")
        if self.inner_lr < 0:
            raise ConfigError(f"inner_lr must be >= 0, got inner_lr={self.inner_lr}")
        if self.algorithm != "protonet" and self.inner_steps < 1:
            raise ConfigError(
                f"{self.algorithm} adapts by inner steps; it needs learner.inner_steps >= 1, "
                f"got {self.inner_steps}"
            )
        if self.algorithm == "reptile" and self.inner_step_size not in (None, "fixed"):
            raise ConfigError("reptile learns no inner step sizes; drop inner_step_size")
        if self.inner_rule == "learned" and self.algorithm not in ("maml", "fomaml", "anil"):
            raise ConfigError(
                f"inner_rule = 'learned' needs maml, fomaml or anil, not {self.algorithm}"
            )
        require_at_least(
            self,
            0,
            "truncation",
            "multi_step_loss",
            "first_order_iterations",
            "cosine_iterations",
            "linear_iterations",
            "inner_batch",
            "eval_inner_batch",
        )
        if self.inner_rule == "adam" and self.algorithm not in ("reptile", "fomaml"):
            raise ConfigError(
                f"inner_rule = 'adam' needs a first-order learner (reptile, fomaml), "
                f"not {self.algorithm}"
            )
        if self.inner_adam_carry and (self.algorithm, self.inner_rule) != ("reptile", "adam"):
            raise ConfigError("inner_adam_carry needs algorithm = 'reptile', inner_rule = 'adam'")
        if len(self.inner_betas) != 2:
            raise ConfigError(f"inner_betas needs two values, got {list(self.inner_betas)}")
        if self.cosine_iterations and self.linear_iterations:
            raise ConfigError("choose cosine_iterations or linear_iterations, not both")
        if self.algorithm in ("reptile", "protonet", "siamese") and (
            self.multi_step_loss or self.first_order_iterations
        ):
            raise ConfigError(f"{self.algorithm} has no MAML outer loss to anneal")
        if self.per_step_norm and self.algorithm in ("reptile", "protonet", "siamese"):
            raise ConfigError(
                f"per_step_norm is learned through a MAML outer loss; {self.algorithm} has none"
            )
        if self.norm_at_test not in ("batch", "running"):
            raise ConfigError(
                f"norm_at_test must be 'batch' or 'running', got {self.norm_at_test!r}"
            )
        if self.norm_at_test == "running" and not self.per_step_norm:
            raise ConfigError("norm_at_test = 'running' needs per_step_norm = true")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation of adaptation on held-out tasks.

    Attributes:
        tasks: held-out episodes (600 by default, as is standard for Omniglot).
        steps: adaptation steps K; metrics are reported after 0..K steps.
        batch: episodes adapted together in one vmapped call.
    """

    tasks: int = 600
    steps: int = 10
    batch: int = 100

    def __post_init__(self) -> None:
        require_at_least(self, 1, "tasks", "batch")
        require_at_least(self, 0, "steps")


@dataclass(frozen=True)
class FewShotExperiment:
    """A complete few-shot experiment, as loaded from ``experiments/fewshot/*.toml``."""

    kind: str = "fewshot"
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.data.dataset == "omniglot" and self.data.data_dir is None:
            raise ConfigError("omniglot needs a data directory: pass --data-dir PATH/omniglot-py")
        if self.learner.per_step_norm and self.data.dataset != "omniglot":
            raise ConfigError("per_step_norm needs the Omniglot conv net (dataset = 'omniglot')")
        gradient_based = self.learner.algorithm not in METRIC_LEARNERS
        if self.data.dataset == "sinusoid" and not gradient_based:
            raise ConfigError(f"{self.learner.algorithm} classifies; it needs dataset = 'omniglot'")
        test_ways = self.data.episode_shape("test")[0]
        if self.data.dataset == "omniglot" and gradient_based and test_ways != self.data.ways:
            raise ConfigError(
                f"{self.learner.algorithm} has a {self.data.ways}-way head; "
                f"test_ways={test_ways} needs protonet or siamese"
            )

    def replace(self, **sections: object) -> FewShotExperiment:
        """A copy with whole sections replaced."""
        return dataclasses.replace(self, **sections)
