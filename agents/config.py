"""The config schema of meta-RL experiments (``kind = "rl"``, ``experiments/*.toml``).

Defaults are the MAML paper's (Finn et al. 2017, appendix A.2) and pytorch-maml-rl's configs:
meta-batches of 40 tasks, 20 rollouts per task and step, one inner policy-gradient step of size
0.1, TRPO with max-KL 0.01, γ = 0.99, GAE λ = 1, a 2×100 tanh policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from metarl.agents.maml import PPOClipSettings
from metarl.agents.pretrain import PretrainSettings
from metarl.agents.reptile import ReptileSettings
from metarl.agents.trpo import TRPOSettings
from metarl.config import RunConfig, require_at_least
from metarl.errors import ConfigError

Algorithm = Literal["maml", "fomaml", "reptile", "ppo"]


@dataclass(frozen=True)
class EnvConfig:
    """The task family and its episodes.

    Attributes:
        family: task family (``metarl envs`` lists them), e.g. "Navigation2D", "HalfCheetahVel".
        horizon: episode length T (MAML paper: 100 for 2D navigation, 200 for locomotion).
        task_seed: seeds the train/test task sets (the same for every run seed).
        train_tasks: size of the training task set (default: the family's).
        test_tasks: size of the held-out test task set (default: the family's).
        threads: simulator threads (default: the simulator's choice).
    """

    family: str = "Navigation2D"
    horizon: int = 100
    task_seed: int = 0
    train_tasks: int | None = None
    test_tasks: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        require_at_least(self, 1, "horizon", "train_tasks", "test_tasks", "threads")
        require_at_least(self, 0, "task_seed")


@dataclass(frozen=True)
class PolicyConfig:
    """The Gaussian MLP policy.

    Attributes:
        hidden: hidden-layer widths (tanh).
        init_std: initial action standard deviation (in policy units).
        action_scale: policy units per control unit: the env receives
            ``clip(a / action_scale, low, high)``. 1: the policy acts in control units (Finn et
            al. 2017's rllab setting); 10: pytorch-maml-rl's ``normalization_scale`` for MuJoCo,
            σ = 1 is 0.1 in control units (see docs/bench_cheetah.md).
    """

    hidden: tuple[int, ...] = (100, 100)
    init_std: float = 1.0
    action_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1 or self.init_std <= 0:
            raise ConfigError(f"policy needs >= 1 hidden layer and init_std > 0: {self}")
        if self.action_scale <= 0:
            raise ConfigError(f"policy.action_scale must be > 0: {self.action_scale}")


@dataclass(frozen=True)
class AgentConfig:
    """The meta-learner and its inner loop.

    Attributes:
        algorithm: "maml" (second order), "fomaml" (first order), "reptile", or "ppo"
            (Stable-Baselines3 PPO pretrained on the whole task distribution, a baseline).
        outer: outer step of maml/fomaml: "trpo" (the MAML paper) or "ppo" (Adam, clipped).
        meta_batch_size: tasks per meta-iteration.
        rollouts: episodes per task for each inner step and for the post-adaptation surrogate.
        inner_steps: policy-gradient steps K per task during meta-training.
        inner_lr: inner step size α.
        gamma: discount γ.
        gae_lambda: GAE λ (1: Monte-Carlo returns minus the baseline).
        baseline_reg: initial ridge coefficient of the linear feature baseline.
        vectorize: vmap over the tasks of a meta-batch (else loop over them; same results).
    """

    algorithm: Algorithm = "maml"
    outer: Literal["trpo", "ppo"] = "trpo"
    meta_batch_size: int = 40
    rollouts: int = 20
    inner_steps: int = 1
    inner_lr: float = 0.1
    gamma: float = 0.99
    gae_lambda: float = 1.0
    baseline_reg: float = 1e-5
    vectorize: bool = True

    def __post_init__(self) -> None:
        require_at_least(self, 1, "meta_batch_size", "rollouts")
        require_at_least(self, 0, "inner_steps", "inner_lr", "baseline_reg")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ConfigError(f"gamma and gae_lambda must lie in [0, 1]: {self}")
        if self.algorithm == "reptile" and self.inner_steps < 1:
            raise ConfigError("reptile needs inner_steps >= 1")


@dataclass(frozen=True)
class EvalConfig:
    """Few-rollout adaptation on held-out tasks.

    Attributes:
        tasks: held-out test tasks (the first ``tasks`` of the test split).
        steps: report the return after 0..``steps`` inner steps.
        rollouts: episodes per task and step (the adaptation budget).
        seed: seeds the evaluation rollouts (the same for every model compared).
    """

    tasks: int = 40
    steps: int = 3
    rollouts: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        require_at_least(self, 1, "tasks", "rollouts")
        require_at_least(self, 0, "steps", "seed")


@dataclass(frozen=True)
class RLExperiment:
    """A complete meta-RL experiment, as loaded from ``experiments/*.toml``."""

    kind: str = "rl"
    run: RunConfig = field(default_factory=RunConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    trpo: TRPOSettings = field(default_factory=TRPOSettings)
    outer_ppo: PPOClipSettings = field(default_factory=PPOClipSettings)
    reptile: ReptileSettings = field(default_factory=ReptileSettings)
    pretrain: PretrainSettings = field(default_factory=PretrainSettings)
    eval: EvalConfig = field(default_factory=EvalConfig)
