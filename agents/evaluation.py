"""Few-rollout adaptation on held-out tasks: the return after 0, 1, …, K inner steps.

Every policy compared (the meta-learned one and the baselines) is adapted with the config's inner
loop (step size, γ, λ, baseline) from the same number of rollouts per step, on the same tasks and
with the same environment seeds, so their curves differ only by the initial policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from metarl.agents.config import RLExperiment
from metarl.agents.policies import GaussianMLPPolicy
from metarl.agents.sampler import RolloutSampler
from metarl.agents.schedule import scheduled
from metarl.agents.trainer import build_adaptation, make_simulator, task_distribution
from metarl.core import module_params
from metarl.envs import Task


def evaluation_tasks(config: RLExperiment, split: str, n_tasks: int) -> list[Task]:
    """The first ``n_tasks`` tasks of ``split``, cycling when the split is smaller (the Dir
    families have two tasks; their repeats differ in their rollouts)."""
    tasks = task_distribution(config).split(split)  # type: ignore[arg-type]
    return [tasks[i % len(tasks)] for i in range(n_tasks)]


def adaptation_returns(
    config: RLExperiment,
    policy: GaussianMLPPolicy,
    tasks: list[Task],
    steps: int,
    rollouts: int,
    seed: int,
    label: str = "evaluate",
    inner_lr: Sequence[float] | None = None,
) -> np.ndarray:
    """Mean episode return of each task after 0..``steps`` inner steps, ``[tasks, steps + 1]``.

    Each task runs on its own, drawing its environment seeds and action noise from
    ``default_rng([seed, index])``: its curve depends on the seed and its index only, not on how
    many tasks are evaluated or on the meta-batch size.
    Step ``k`` takes step size ``inner_lr[k]`` (default: ``config.eval.inner_lr``; empty:
    ``config.agent.inner_lr``).
    """
    adaptation = build_adaptation(config, policy)
    schedule = config.eval.inner_lr if inner_lr is None else inner_lr
    adaptation.inner = scheduled(adaptation.inner, schedule)
    params = module_params(policy)
    curves = []
    for index, task in enumerate(tqdm(tasks, desc=label, unit="task", dynamic_ncols=True)):
        rng = np.random.default_rng([seed, index])
        simulator = make_simulator(config, [task], rollouts, seed=0)
        sampler = RolloutSampler(simulator, 1, config.env.horizon)
        result = adaptation.run(sampler, params, steps, rng, label="evaluation rollouts")
        returns = [episodes.episode_returns().mean(1) for episodes in result.episodes]
        curves.append(np.stack([r.double().numpy() for r in returns], axis=1))
    return np.concatenate(curves)
