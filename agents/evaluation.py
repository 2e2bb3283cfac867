"""Few-rollout adaptation on held-out tasks: the return after 0, 1, …, K inner steps.

Every policy compared (the meta-learned one and the baselines) is adapted with the config's inner
loop (step size, γ, λ, baseline) from the same number of rollouts per step, on the same tasks and
with the same environment seeds, so their curves differ only by the initial policy.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from metarl.agents.config import RLExperiment
from metarl.agents.policies import GaussianMLPPolicy
from metarl.agents.sampler import RolloutSampler
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
) -> np.ndarray:
    """Mean episode return of each task after 0..``steps`` inner steps, ``[tasks, steps + 1]``.

    Tasks run in chunks of the config's meta-batch size; each chunk draws its environment seeds
    and action noise from ``default_rng([seed, chunk])``.
    """
    adaptation = build_adaptation(config, policy)
    params = module_params(policy)
    chunk = config.agent.meta_batch_size
    curves = []
    with tqdm(total=len(tasks), desc=label, unit="task", dynamic_ncols=True) as bar:
        for index, start in enumerate(range(0, len(tasks), chunk)):
            batch = tasks[start : start + chunk]
            rng = np.random.default_rng([seed, index])
            simulator = make_simulator(config, batch, rollouts, seed=0)
            sampler = RolloutSampler(
                simulator, len(batch), config.env.horizon, config.policy.action_scale
            )
            result = adaptation.run(sampler, params, steps, rng)
            returns = [episodes.episode_returns().mean(1) for episodes in result.episodes]
            curves.append(np.stack([r.double().numpy() for r in returns], axis=1))
            bar.update(len(batch))
    return np.concatenate(curves)
