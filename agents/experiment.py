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
from metarl.agents.evaluation import (
    adaptation_curves,
    evaluation_tasks,
    plot_success,
    success_curve,
)
from metarl.agents.policies import GaussianMLPPolicy
from metarl.agents.pretrain import PPOPretrainer, actor_from_state
from metarl.agents.rl2 import RL2Trainer
from metarl.agents.rl2_evaluation import evaluate_rl2
from metarl.agents.trainer import MetaRLTrainer, build_policy
from metarl.config import from_dict
from metarl.envs import Task
from metarl.envs.task_files import parse_task_ranges, range_tasks, read_tasks_file
from metarl.errors import ConfigError, RunDirError
from metarl.experiment import EvaluateOptions
from metarl.plotting import plot_adaptation_curves
from metarl.runs import RunDir
from metarl.stats import summarize_curve

SCHEMA = RLExperiment


def build_trainer(config: RLExperiment) -> MetaRLTrainer | PPOPretrainer | RL2Trainer:
    """A fresh meta-RL trainer, the PPO pretrainer for ``algorithm = "ppo"``, or RL²'s."""
    if config.agent.algorithm == "ppo":
        return PPOPretrainer(config)
    if config.agent.algorithm == "rl2":
        return RL2Trainer(config)
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


def chosen_tasks(
    config: RLExperiment, options: EvaluateOptions, n_tasks: int
) -> tuple[list[Task], dict[str, Any]]:
    """The tasks ``--tasks-file`` / ``--task-range`` choose (none without them), and what to
    record of the choice in evaluation.json."""
    family, allow = config.env.family, options.allow_out_of_range
    if options.tasks_file is not None:
        tasks = read_tasks_file(options.tasks_file, family, allow)
        source: dict[str, Any] = {"tasks_file": str(options.tasks_file)}
    elif options.task_range:
        ranges = parse_task_ranges(list(options.task_range), family)
        tasks = range_tasks(family, ranges, n_tasks, config.eval.seed, allow)
        source = {"task_range": {name: list(bounds) for name, bounds in ranges.items()}}
    else:
        return [], {}
    outside = [i for i, task in enumerate(tasks) if task.out_of_range]
    if outside:
        print(f"{len(outside)} of {len(tasks)} evaluation tasks are outside {family}'s ranges")
    return tasks, {"task_source": {**source, "out_of_range_tasks": outside}}


def evaluate(
    config: RLExperiment,
    trainer: MetaRLTrainer | PPOPretrainer | RL2Trainer,
    run: RunDir,
    options: EvaluateOptions,
) -> dict[str, Any]:
    """Adaptation curves of the run and its baselines → evaluation.json and adaptation.png."""
    n_tasks = options.tasks or config.eval.tasks
    tasks, chosen = chosen_tasks(config, options, n_tasks)
    tasks = tasks or evaluation_tasks(config, options.split, n_tasks)
    n_tasks = len(tasks)
    if isinstance(trainer, RL2Trainer):
        return evaluate_rl2(config, trainer, run, options, tasks, chosen)
    steps = config.eval.steps if options.steps is None else options.steps
    rollouts = options.rollouts or config.eval.rollouts or config.agent.rollouts
    policies = {"random_init": build_policy(config, evaluation_tasks(config, "train", 1))}
    if options.baseline is not None:
        policies["ppo_pretrained"] = load_ppo_baseline(options.baseline, config)
    started = time.perf_counter()

    def curve(
        policy: GaussianMLPPolicy,
        label: str,
        inner_lr: list[float] | None = None,
        inner_state: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        per_task = adaptation_curves(
            config, policy, tasks, steps, rollouts, config.eval.seed, label, inner_lr, inner_state
        )
        axis = {
            "x_axis": "inner steps",
            "adaptation_steps": list(range(steps + 1)),
            "experience_rollouts": [k * rollouts for k in range(steps + 1)],
        }
        return {**axis, **summarize_curve(per_task.returns), **success_curve(per_task.success)}

    def baseline_curve(policy: GaussianMLPPolicy, label: str) -> dict[str, Any]:
        if not config.eval.baseline_lr_grid:
            return curve(policy, label)
        search = baseline_step_size(config, policy, steps, rollouts, label)
        return {**curve(policy, label, [search["inner_lr"]]), "lr_search": search}

    algorithm = config.agent.algorithm
    result: dict[str, Any] = {
        "metric": "return",
        "split": options.split,
        "algorithm": algorithm,
        "family": config.env.family,
        "horizon": config.env.horizon,
        "rollouts_per_step": rollouts,
        "inner_lr": config.agent.inner_lr,
        "eval_inner_lr": list(config.eval.inner_lr) or [config.agent.inner_lr],
        "inner_rule": config.agent.inner_rule,
        "env_steps": trainer_env_steps(trainer),
        **curve(trained_policy(trainer), algorithm, inner_state=meta_trained_inner(trainer)),
        "n_tasks": n_tasks,
        "tasks": [task.to_json() for task in tasks],
        **chosen,
    }
    result["baselines"] = {name: baseline_curve(policy, name) for name, policy in policies.items()}
    if options.baseline is not None:
        result["baselines"]["ppo_pretrained"]["env_steps"] = ppo_env_steps(options.baseline)
    result["eval_seconds"] = time.perf_counter() - started
    run.write_json("evaluation.json", result)
    curves = [(algorithm, result), *result["baselines"].items()]
    title = f"{config.env.family}: return after adaptation ({options.split} tasks)"
    plot_adaptation_curves(curves, "return", run.path / "adaptation.png", title)
    plot_success(curves, run, f"{config.env.family} ({options.split} tasks)")
    return result


def meta_trained_inner(trainer: MetaRLTrainer | PPOPretrainer) -> dict[str, Any] | None:
    """The state of the inner loop meta-trained with the policy (a learned update rule's
    weights; empty for SGD), which its evaluation adapts with; None for PPO."""
    if isinstance(trainer, PPOPretrainer):
        return None
    return trainer.adaptation.inner.state_dict()


def trainer_env_steps(trainer: MetaRLTrainer | PPOPretrainer) -> int:
    """Environment steps the trainer has taken (training only)."""
    if isinstance(trainer, PPOPretrainer):
        return int(trainer.model.num_timesteps)
    return int(trainer.env_steps)


def ppo_env_steps(path: Any) -> int:
    """Environment steps the PPO baseline at ``path`` was trained for."""
    return int(RunDir.open(path).load_checkpoint()["trainer"]["num_timesteps"])


def baseline_step_size(
    config: RLExperiment, policy: GaussianMLPPolicy, steps: int, rollouts: int, label: str
) -> dict[str, Any]:
    """The step size of ``eval.baseline_lr_grid`` with the best mean return after ``steps``
    steps on the first ``eval.lr_search_tasks`` *training* tasks (never the evaluation tasks)."""
    tasks = evaluation_tasks(config, "train", config.eval.lr_search_tasks)
    returns = []
    for lr in config.eval.baseline_lr_grid:
        per_task = adaptation_curves(
            config, policy, tasks, steps, rollouts, config.eval.seed + 1, f"{label} lr={lr}", [lr]
        ).returns
        returns.append(float(per_task[:, -1].mean()))
    best = max(range(len(returns)), key=returns.__getitem__)
    return {
        "grid": list(config.eval.baseline_lr_grid),
        "train_tasks": len(tasks),
        "mean_return_after_steps": returns,
        "inner_lr": config.eval.baseline_lr_grid[best],
    }
