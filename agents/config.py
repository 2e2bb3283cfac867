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
from metarl.agents.rl2_ppo import RL2Settings
from metarl.agents.trpo import TRPOSettings
from metarl.config import RunConfig, require_at_least
from metarl.errors import ConfigError

Algorithm = Literal["maml", "fomaml", "reptile", "ppo", "rl2"]


@dataclass(frozen=True)
class EnvConfig:
    """The task family and its episodes.

    Attributes:
        family: task family (``metarl envs`` lists them), e.g. "Navigation2D", "HalfCheetahVel".
        horizon: episode length T (MAML paper: 100 for 2D navigation, 200 for locomotion).
        task_seed: seeds the train/test task sets (the same for every run seed).
        train_tasks: size of the training task set (default: the family's).
        test_tasks: size of the held-out test task set (default: the family's).
        threads: simulator threads (default: the simulator's choice; 1 per worker with workers).
        workers: processes that step shards of the envs (1: in this process). Several cores
            help envs whose ``step`` is Python: the "gym" and "generic_mujoco" backends.
        plugins: modules or ``.py`` files that register task families of your own, looked up in
            the config's folder, then the working directory (see ``docs/envs.md``).
    """

    family: str = "Navigation2D"
    horizon: int = 100
    task_seed: int = 0
    train_tasks: int | None = None
    test_tasks: int | None = None
    threads: int | None = None
    workers: int = 1
    plugins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require_at_least(self, 1, "horizon", "train_tasks", "test_tasks", "threads", "workers")
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
            (Stable-Baselines3 PPO pretrained on the whole task distribution, a baseline), or
            "rl2" (a recurrent policy meta-trained with PPO; settings in ``[rl2]``).
        outer: outer step of maml/fomaml: "trpo" (the MAML paper) or "ppo" (Adam, clipped).
        meta_batch_size: tasks per meta-iteration.
        rollouts: episodes per task for each inner step and for the post-adaptation surrogate.
        inner_steps: policy-gradient steps K per task during meta-training.
        inner_lr: inner step size α.
        gamma: discount γ.
        gae_lambda: GAE λ (1: Monte-Carlo returns minus the baseline).
        baseline_reg: initial ridge coefficient of the linear feature baseline.
        vectorize: vmap over the tasks of a meta-batch (else loop over them; same results).
        inner_rule: "sgd", or "learned" for the core's coordinate-wise LSTM optimizer
            (Andrychowicz et al. 2016), meta-trained with θ (needs maml/fomaml with outer "ppo").
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
    inner_rule: Literal["sgd", "learned"] = "sgd"

    def __post_init__(self) -> None:
        require_at_least(self, 1, "meta_batch_size", "rollouts")
        require_at_least(self, 0, "inner_steps", "inner_lr", "baseline_reg")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ConfigError(f"gamma and gae_lambda must lie in [0, 1]: {self}")
        if self.algorithm != "ppo" and self.inner_steps < 1:
            raise ConfigError(
                f"{self.algorithm} adapts by inner steps; it needs agent.inner_steps >= 1, "
                f"got {self.inner_steps}"
            )
        if self.inner_rule == "learned" and (
            self.algorithm not in ("maml", "fomaml") or self.outer != "ppo"
        ):
            raise ConfigError(
                "inner_rule = 'learned' needs algorithm maml/fomaml and outer = 'ppo'"
            )


@dataclass(frozen=True)
class SamplerConfig:
    """Where meta-training rollouts are sampled (``[sampler]``).

    Attributes:
        backend: "local" (one batched simulator in this process, the default) or "ray" (Ray
            actors, each holding a batched simulator for a fixed shard of the meta-batch's
            tasks; same episodes as "local", see ``agents/ray_sampler.py``; needs the ``ray``
            extra).
        workers: Ray sampler actors (the meta-batch is split into this many shards).
        address: the Ray cluster: "local" (start one in this process), "auto" (the cluster this
            machine belongs to) or "ray://HOST:PORT" (Ray Client).
        cpus_per_worker: CPUs each actor reserves (also its MuJoCo threads).
    """

    backend: Literal["local", "ray"] = "local"
    workers: int = 2
    address: str = "local"
    cpus_per_worker: int = 1

    def __post_init__(self) -> None:
        require_at_least(self, 1, "workers", "cpus_per_worker")
        if self.address not in ("local", "auto") and not self.address.startswith("ray://"):
            raise ConfigError(
                f"sampler.address must be 'local', 'auto' or 'ray://HOST:PORT', got "
                f"{self.address!r}"
            )


@dataclass(frozen=True)
class EvalConfig:
    """Few-rollout adaptation on held-out tasks.

    Attributes:
        tasks: held-out test tasks (the first ``tasks`` of the test split).
        steps: report the return after 0..``steps`` inner steps.
        rollouts: episodes per task and step (the adaptation budget); unset: the training
            ``agent.rollouts``, so training and evaluation adapt from the same budget.
        seed: seeds the evaluation rollouts (the same for every model compared).
        inner_lr: test-time step size of each inner step, the last one reused for later steps
            (MAML paper, appendix A.2: ``[0.1, 0.05]``); empty: ``agent.inner_lr`` at every step.
        baseline_lr_grid: step sizes among which each baseline's (constant) test-time step size
            is chosen, by the mean return after ``steps`` steps on ``lr_search_tasks`` *training*
            tasks (the MAML paper tunes its baselines' step size); empty: the baselines use the
            meta-learner's schedule. The search is recorded in ``evaluation.json``.
        lr_search_tasks: training tasks the baselines' step-size search runs on.
    """

    tasks: int = 40
    steps: int = 3
    rollouts: int | None = None
    seed: int = 0
    inner_lr: tuple[float, ...] = ()
    baseline_lr_grid: tuple[float, ...] = ()
    lr_search_tasks: int = 10

    def __post_init__(self) -> None:
        require_at_least(self, 1, "tasks", "rollouts", "lr_search_tasks")
        require_at_least(self, 0, "steps", "seed")
        if any(lr < 0 for lr in (*self.inner_lr, *self.baseline_lr_grid)):
            raise ConfigError(f"eval step sizes must be >= 0: {self}")


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
    rl2: RL2Settings = field(default_factory=RL2Settings)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)

    def __post_init__(self) -> None:
        sharded = ("maml", "fomaml", "reptile")
        if self.sampler.backend == "ray" and self.agent.algorithm not in sharded:
            raise ConfigError(
                "sampler.backend = 'ray' samples for maml, fomaml and reptile; "
                f"{self.agent.algorithm} samples in-process (use backend = 'local')"
            )
        if self.sampler.backend == "ray" and self.env.workers > 1:
            raise ConfigError(
                "env.workers shards the local simulator; with sampler.backend = 'ray' the "
                "actors are the processes (sampler.workers)"
            )
        if self.agent.inner_rule == "learned" and (
            self.eval.inner_lr or self.eval.baseline_lr_grid
        ):
            raise ConfigError(
                "eval.inner_lr and eval.baseline_lr_grid set SGD step sizes; "
                "they cannot be used with agent.inner_rule = 'learned'"
            )
