"""Few-rollout adaptation on held-out tasks: the return after 0, 1, …, K inner steps.

Every policy compared (the meta-learned one and the baselines) is adapted with the config's inner
loop (step size, γ, λ, baseline) from the same number of rollouts per step, on the same tasks and
with the same environment seeds, so their curves differ only by the initial policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
from torch import Tensor
from tqdm import tqdm

from metarl.agents.adaptation import Adaptation
from metarl.agents.config import RLExperiment
from metarl.agents.policies import GaussianMLPPolicy
from metarl.agents.sampler import RolloutSampler, Simulator
from metarl.agents.schedule import scheduled
from metarl.agents.trainer import build_adaptation, make_simulator, task_distribution
from metarl.core import module_params
from metarl.envs import Task
from metarl.plotting import plot_adaptation_curves
from metarl.runs import RunDir
from metarl.stats import summarize_curve


def evaluation_tasks(config: RLExperiment, split: str, n_tasks: int) -> list[Task]:
    """The first ``n_tasks`` tasks of ``split``, cycling when the split is smaller (the Dir
    families have two tasks; their repeats differ in their rollouts)."""
    tasks = task_distribution(config).split(split)  # type: ignore[arg-type]
    return [tasks[i % len(tasks)] for i in range(n_tasks)]


def task_sampler(config: RLExperiment, simulator: Simulator, n_tasks: int) -> RolloutSampler:
    """The config's rollout sampler for ``n_tasks`` tasks on ``simulator`` (evaluation and
    ``metarl render`` both sample through it)."""
    return RolloutSampler(simulator, n_tasks, config.env.horizon, config.policy.action_scale)


def adaptation_chunks(
    config: RLExperiment, tasks: list[Task], rollouts: int, seed: int
) -> Iterator[tuple[list[Task], RolloutSampler, list[int]]]:
    """The tasks one at a time, each with its sampler (``rollouts`` envs) and the seed of its
    generator, ``[seed, index]``: a task's curve depends on the seed and its index only, not on
    how many tasks are evaluated or on the meta-batch size."""
    for index, task in enumerate(tasks):
        simulator = make_simulator(config, [task], rollouts, seed=0)
        yield [task], task_sampler(config, simulator, 1), [seed, index]


def evaluation_adaptation(
    config: RLExperiment,
    policy: GaussianMLPPolicy,
    inner_lr: Sequence[float] | None = None,
    inner_state: dict[str, Tensor] | None = None,
) -> Adaptation:
    """The config's adaptation whose step ``k`` takes step size ``inner_lr[k]`` (default:
    ``config.eval.inner_lr``; empty: ``config.agent.inner_lr``), with the meta-trained state of
    its inner loop (a learned update rule's weights) when ``inner_state`` is given."""
    adaptation = build_adaptation(config, policy)
    if inner_state is not None:
        adaptation.inner.load_state_dict(inner_state)
    schedule = config.eval.inner_lr if inner_lr is None else inner_lr
    adaptation.inner = scheduled(adaptation.inner, schedule)
    return adaptation


class AdaptationCurves(NamedTuple):
    """Per-task curves after 0..K inner steps, each ``[tasks, K + 1]``.

    Attributes:
        returns: mean episode return.
        success: fraction of episodes with ``info["success"]`` at some step; None for a family
            that reports no success.
    """

    returns: np.ndarray
    success: np.ndarray | None


def adaptation_curves(
    config: RLExperiment,
    policy: GaussianMLPPolicy,
    tasks: list[Task],
    steps: int,
    rollouts: int,
    seed: int,
    label: str = "evaluate",
    inner_lr: Sequence[float] | None = None,
    inner_state: dict[str, Tensor] | None = None,
) -> AdaptationCurves:
    """Mean episode return (and success rate) of each task after 0..``steps`` inner steps,
    adapted by :func:`evaluation_adaptation` on :func:`adaptation_chunks`. A task whose rollouts
    turn non-finite (a diverged adaptation) has NaN from that step on: it counts as diverged."""
    adaptation = evaluation_adaptation(config, policy, inner_lr, inner_state)
    params = module_params(policy)
    returns, success = [], []
    with tqdm(total=len(tasks), desc=label, unit="task", dynamic_ncols=True) as bar:
        for batch, sampler, task_seed in adaptation_chunks(config, tasks, rollouts, seed):
            rng = np.random.default_rng(task_seed)
            result = adaptation.run(sampler, params, steps, rng, stop_at_nonfinite=True)
            curves = np.full((2, len(batch), steps + 1), np.nan)
            for step, episodes in enumerate(result.episodes):
                curves[0, :, step] = episodes.episode_returns().mean(1).double().numpy()
                curves[1, :, step] = episodes.success.mean(1).double().numpy()
            returns.append(curves[0])
            success.append(curves[1])
            bar.update(len(batch))
    success_curve = np.concatenate(success)
    reported = not np.isnan(success_curve[:, 0]).all()
    return AdaptationCurves(np.concatenate(returns), success_curve if reported else None)


def success_curve(per_task: np.ndarray | None) -> dict[str, Any]:
    """``{"success_rate": summary}`` of per-task success rates (mean and 95% CI over tasks at
    each step; an episode succeeds if ``info["success"]`` was true at any of its steps), or
    nothing for a family that reports no success."""
    return {} if per_task is None else {"success_rate": summarize_curve(per_task)}


def plot_success(curves: list[tuple[str, dict[str, Any]]], run: RunDir, what: str) -> None:
    """``success.png`` beside ``adaptation.png`` when the curves have success rates."""
    drawn = [
        (label, {**curve, **curve["success_rate"]})
        for label, curve in curves
        if "success_rate" in curve
    ]
    if drawn:
        title = f"{what}: success rate after adaptation"
        plot_adaptation_curves(drawn, "success rate", run.path / "success.png", title)
