"""Meta-RL experiments for the CLI (``kind = "rl"``): build a trainer, evaluate adaptation.

``metarl evaluate`` reports the adaptation curve of the run's policy on held-out test tasks and,
on the same tasks with the same budget, of the baselines: ``random_init`` (the untrained policy
the run started from) and, with ``--baseline PPO_RUN_DIR``, ``ppo_pretrained`` (a PPO policy
pretrained on the whole task distribution by ``metarl train experiments/<family>_ppo.toml``).
"""

from __future__ import annotations

import time
from typing import Any

from metarl.agents.config import RLExperiment
from metarl.agents.evaluation import adaptation_returns, evaluation_tasks
from metarl.agents.policies import GaussianMLPPolicy
from metarl.agents.pretrain import PPOPretrainer, actor_from_state
from metarl.agents.trainer import MetaRLTrainer, build_policy
from metarl.config import from_dict
from metarl.errors import ConfigError, RunDirError
from metarl.experiment import EvaluateOptions
from metarl.plotting import plot_adaptation_curves
from metarl.runs import RunDir
from metarl.stats import summarize_curve

SCHEMA = RLExperiment


def build_trainer(config: RLExperiment) -> MetaRLTrainer | PPOPretrainer:
    """A fresh meta-RL trainer, or the PPO pretrainer for ``algorithm = "ppo"``."""
    if config.agent.algorithm == "ppo":
        return PPOPretrainer(config)
    return MetaRLTrainer(config)


def trained_policy(trainer: MetaRLTrainer | PPOPretrainer) -> GaussianMLPPolicy:
    """The policy a trainer has learned (for PPO, its actor)."""
    return trainer.actor() if isinstance(trainer, PPOPretrainer) else trainer.policy


def load_ppo_baseline(path: Any, config: RLExperiment) -> GaussianMLPPolicy:
    """The PPO actor of the run at ``path``; it must be a PPO run of ``config``'s family."""
    run = RunDir.open(path)
    baseline = from_dict(RLExperiment, run.raw_config())
    if baseline.agent.algorithm != "ppo":
        raise ConfigError(f"--baseline {path} is a {baseline.agent.algorithm!r} run, not 'ppo'")
    if baseline.env.family != config.env.family:
        raise ConfigError(
            f"--baseline {path} was trained on {baseline.env.family}, not {config.env.family}"
        )
    if baseline.policy.action_scale != config.policy.action_scale:
        raise ConfigError(
            f"--baseline {path} acts with policy.action_scale = {baseline.policy.action_scale}, "
            f"not {config.policy.action_scale}"
        )
    if not run.has_checkpoint():
        raise RunDirError(f"--baseline {path} has no checkpoint yet")
    return actor_from_state(run.load_checkpoint()["trainer"], baseline)


def evaluate(
    config: RLExperiment,
    trainer: MetaRLTrainer | PPOPretrainer,
    run: RunDir,
    options: EvaluateOptions,
) -> dict[str, Any]:
    """Adaptation curves of the run and its baselines → evaluation.json and adaptation.png."""
    steps = config.eval.steps if options.steps is None else options.steps
    n_tasks = options.tasks or config.eval.tasks
    rollouts = options.rollouts or config.eval.rollouts
    policies = {"random_init": build_policy(config, evaluation_tasks(config, "train", 1))}
    if options.baseline is not None:
        policies["ppo_pretrained"] = load_ppo_baseline(options.baseline, config)
    tasks = evaluation_tasks(config, options.split, n_tasks)
    started = time.perf_counter()

    def curve(policy: GaussianMLPPolicy, label: str) -> dict[str, Any]:
        per_task = adaptation_returns(
            config, policy, tasks, steps, rollouts, config.eval.seed, label
        )
        return {"adaptation_steps": list(range(steps + 1)), **summarize_curve(per_task)}

    algorithm = config.agent.algorithm
    result: dict[str, Any] = {
        "metric": "return",
        "split": options.split,
        "algorithm": algorithm,
        "family": config.env.family,
        "horizon": config.env.horizon,
        "rollouts_per_step": rollouts,
        "inner_lr": config.agent.inner_lr,
        **curve(trained_policy(trainer), algorithm),
        "n_tasks": n_tasks,
        "tasks": [task.to_json() for task in tasks],
    }
    result["baselines"] = {name: curve(policy, name) for name, policy in policies.items()}
    result["eval_seconds"] = time.perf_counter() - started
    run.write_json("evaluation.json", result)
    curves = [(algorithm, result), *result["baselines"].items()]
    title = f"{config.env.family}: return after adaptation ({options.split} tasks)"
    plot_adaptation_curves(curves, "return", run.path / "adaptation.png", title)
    return result
