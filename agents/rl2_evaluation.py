"""``metarl evaluate`` for RL² runs: the return of episode 1..K+1 of a trial on held-out tasks.

The run's policy and the untrained recurrent policy it started from (``random_init``) run trials
on the same tasks with the same env seeds and action noise. Episode ``j`` comes after ``j − 1``
episodes of experience of the task, so the curve's x-axis is "episodes of experience"; a MAML
curve's is "inner steps", each worth ``rollouts_per_step`` episodes (``experience_rollouts``
puts both on one axis for ``metarl plot``). ``gain_over_episode1`` is the paired comparison:
mean and 95% CI over tasks of each task's episode-``j`` return minus its episode-1 return.
"""

from __future__ import annotations

import time
from typing import Any

from metarl.agents.config import RLExperiment
from metarl.agents.evaluation import evaluation_tasks, plot_success, success_curve
from metarl.agents.recurrent_policy import RecurrentGaussianPolicy
from metarl.agents.rl2 import RL2Trainer, build_recurrent_policy, episode_curves
from metarl.envs import Task
from metarl.experiment import EvaluateOptions
from metarl.plotting import plot_adaptation_curves
from metarl.runs import RunDir
from metarl.stats import mean_ci95, summarize_curve

X_AXIS = "episodes of experience"


def evaluate_rl2(
    config: RLExperiment,
    trainer: RL2Trainer,
    run: RunDir,
    options: EvaluateOptions,
    tasks: list[Task],
    chosen: dict[str, Any],
) -> dict[str, Any]:
    """Per-episode returns of the run and of ``random_init`` on ``tasks`` → evaluation.json,
    adaptation.png; ``chosen`` records how the tasks were chosen (``--tasks-file``, …).

    ``--steps`` (default ``eval.steps``) is the number of episodes beyond the first;
    ``--rollouts`` (default ``eval.rollouts``, else ``agent.rollouts``) the trials per task
    averaged.
    """
    extra = config.eval.steps if options.steps is None else options.steps
    trials = options.rollouts or config.eval.rollouts or config.agent.rollouts
    started = time.perf_counter()

    def curve(policy: RecurrentGaussianPolicy) -> dict[str, Any]:
        per_task = episode_curves(config, policy, tasks, extra + 1, trials, config.eval.seed)
        experience = list(range(extra + 1))
        returns = per_task.returns
        gains = [mean_ci95(returns[:, j] - returns[:, 0]) for j in experience]
        return {
            "x_axis": X_AXIS,
            "adaptation_steps": experience,
            "experience_rollouts": experience,
            "episodes": [k + 1 for k in experience],
            **summarize_curve(per_task.returns),
            **success_curve(per_task.success),
            "gain_over_episode1": {"mean": [m for m, _ in gains], "ci95": [c for _, c in gains]},
        }

    result: dict[str, Any] = {
        "metric": "return",
        "split": options.split,
        "algorithm": "rl2",
        "family": config.env.family,
        "horizon": config.env.horizon,
        "episodes_per_trial_trained": config.rl2.episodes_per_trial,
        "trials_per_task": trials,
        **curve(trainer.policy),
        "n_tasks": len(tasks),
        "tasks": [task.to_json() for task in tasks],
        **chosen,
    }
    untrained = build_recurrent_policy(config, evaluation_tasks(config, "train", 1))
    result["baselines"] = {"random_init": curve(untrained)}
    result["eval_seconds"] = time.perf_counter() - started
    run.write_json("evaluation.json", result)
    curves = [("rl2", result), *result["baselines"].items()]
    title = f"{config.env.family}: return of each episode of a trial ({options.split} tasks)"
    plot_adaptation_curves(curves, "return", run.path / "adaptation.png", title)
    plot_success(curves, run, f"{config.env.family} ({options.split} tasks)")
    return result
