"""Environment steps per second of the batched simulator, against the physics ceiling and Gymnasium.

For each family, ``tasks × envs_per_task`` envs (default 40 × 20 = 800, a MAML meta-batch) are
stepped by :class:`metarl.envs.BatchedSimulator` with

- a random policy (uniform actions), and
- a 2×64 tanh MLP Gaussian policy, one batched torch forward per step,

and compared with, in the same run,

- the physics ceiling: ``mujoco.rollout`` open loop on the same models, on all cores, with the
  same number of physics substeps per env step (no observations, rewards or policy), and
- ``gymnasium.vector.SyncVectorEnv`` over the same envs, with the same policy in the loop.

With ``--backends``, each family's simulator rate with the policy is also measured on each
backend that can run it (``mujoco_batch``: the shipped robots' vectorized port; ``generic_mujoco``:
light copies of one env, each running its own ``step`` on a thread pool, or one threaded
``mujoco.batch`` call and the family's vectorized hook; ``gym``: plain Gymnasium envs on a thread
pool), as for a user family; with ``--workers N`` also the ``generic_mujoco`` and ``gym`` backends
with their envs split into N shards, each stepped by a worker process (``env.workers``, threads
divided among them); ``--plugins FILE.py`` imports user families first (e.g. the
ReacherGoal example, ``experiments/plugins/reacher_goal.py``). ``--ceiling-steps 0`` skips the
ceiling, for families whose env is not one MuJoCo model (Meta-World's, in ``.venv-metaworld``).

An env step is one transition of one env: envs that are done (the simulator keeps them done until
the next reset) are not counted. The policy runs on one torch thread (``--torch-threads``): its
forward pass is small, and torch's worker threads would otherwise spin on the cores MuJoCo's
threads step on. Usage::

    python experiments/benchmarks/throughput.py --json \
        --out experiments/benchmarks/results/throughput.json
    python experiments/benchmarks/throughput.py --families HalfCheetahVel ReacherGoal \
        --plugins experiments/plugins/reacher_goal.py --backends \
        --out experiments/benchmarks/results/tasks_throughput.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium
import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from mujoco import rollout
from torch import nn

from metarl.envs import BatchedSimulator, Task, get_family, make_task_distribution
from metarl.envs.models import load_model, task_model
from metarl.envs.plugins import load_plugin

Policy = Callable[[np.ndarray], np.ndarray]


def mlp_policy(obs_dim: int, low: np.ndarray, high: np.ndarray, seed: int) -> Policy:
    """Actions from a 2×64 tanh MLP Gaussian policy (the agents' policy if importable)."""
    try:
        from metarl.agents.policies import GaussianMLPPolicy

        module: nn.Module = GaussianMLPPolicy(obs_dim, len(low), hidden=(64, 64), seed=seed)
    except ImportError:
        torch.manual_seed(seed)
        mean = nn.Sequential(
            nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, len(low))
        )
        module = _MeanWithLogStd(mean, len(low))
    generator = torch.Generator().manual_seed(seed)
    low_t, high_t = torch.as_tensor(low), torch.as_tensor(high)

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        mean, log_std = module(torch.as_tensor(obs, dtype=torch.float32))
        action = mean + torch.exp(log_std) * torch.randn(mean.shape, generator=generator)
        return torch.maximum(torch.minimum(action, high_t), low_t).numpy()

    return act


class _MeanWithLogStd(nn.Module):
    def __init__(self, mean: nn.Module, act_dim: int) -> None:
        super().__init__()
        self.net = mean
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.net(obs)
        return mean, self.log_std.expand_as(mean)


def random_policy(low: np.ndarray, high: np.ndarray, n: int, seed: int) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda obs: rng.uniform(low, high, size=(n, len(low)))


def simulator_rate(sim: BatchedSimulator, policy: Policy, steps: int) -> float:
    """Env steps per second of ``steps`` simulator steps (resetting when every env is done)."""
    obs = sim.reset(seed=0)
    sim.step(policy(obs))  # warm up the thread pool
    obs = sim.reset(seed=1)
    alive = np.ones(sim.num_envs, dtype=bool)
    count = 0
    start = time.perf_counter()
    for _ in range(steps):
        if not alive.any():
            obs, alive = sim.reset(), np.ones(sim.num_envs, dtype=bool)
        count += int(alive.sum())
        obs, _, terminated, truncated = sim.step(policy(obs))
        alive = ~(terminated | truncated)
    return count / (time.perf_counter() - start)


def backend_rates(
    family: str, tasks: list[Task], args: argparse.Namespace, threads: int
) -> dict[str, float]:
    """Policy-in-the-loop rate of ``family`` on every backend that can run it."""
    rates = {}
    spec = get_family(family)
    for backend in ("mujoco_batch", "generic_mujoco", "gym"):
        if backend == "mujoco_batch" and spec.backend != backend:
            continue  # the vectorized port knows the shipped robots only
        if backend == "generic_mujoco" and not issubclass(spec.env_class(), MujocoEnv):
            continue  # light copies of one MujocoEnv: not Meta-World's wrapper
        sim = BatchedSimulator(
            family, tasks, args.envs_per_task, n_threads=threads, backend=backend
        )
        policy = mlp_policy(sim.observation_dim, sim.action_low, sim.action_high, seed=0)
        rates[f"{backend}_policy_steps_per_s"] = simulator_rate(sim, policy, args.steps)
        if args.workers > 1 and backend != "mujoco_batch":
            sim = BatchedSimulator(
                family,
                tasks,
                args.envs_per_task,
                n_threads=max(1, threads // args.workers),
                backend=backend,
                workers=args.workers,
            )
            rate = simulator_rate(sim, policy, args.steps)
            rates[f"{backend}_workers_policy_steps_per_s"] = rate
    return rates


def median_rates(measure_once: Callable[[], dict[str, float]], repeats: int) -> dict[str, float]:
    """The median of each rate over ``repeats`` rounds of ``measure_once`` (the rounds interleave
    the compared rates, so that a change in machine load hits all of them alike)."""
    rounds = [measure_once() for _ in range(repeats)]
    return {name: float(np.median([r[name] for r in rounds])) for name in rounds[0]}


def ceiling_rate(
    env_id: str, tasks: list[Task], steps: int, threads: int, chunk: int = 25
) -> float:
    """Env steps per second of open-loop ``mujoco.rollout`` on the envs' models, all threads.

    Rolls out ``steps · frame_skip`` substeps per env with random controls, in chunks of
    ``chunk`` env steps that continue from the last state (so the recorded states fit in memory).
    """
    env = gymnasium.make(env_id).unwrapped
    base = load_model(env.fullpath)
    models = {task: task_model(base, task.params) for task in set(tasks)}  # a goal: same model
    env_models = [models[task] for task in tasks]
    env.reset(seed=0)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state = np.tile(_state(env, spec), (len(tasks), 1))
    chunk = min(chunk, steps)
    nstep = chunk * env.frame_skip
    low, high = env.action_space.low, env.action_space.high
    control = np.random.default_rng(0).uniform(low, high, size=(len(tasks), nstep, len(low)))
    out = np.empty((len(tasks), nstep, state.shape[1]))
    datas = [mujoco.MjData(base) for _ in range(threads)]
    with rollout.Rollout(nthread=threads) as runner:
        runner.rollout(env_models, datas, state, control[:, :1], nstep=1)  # warm up
        start = time.perf_counter()
        for _ in range(steps // chunk):
            runner.rollout(env_models, datas, state, control, nstep=nstep, state=out)
            state = out[:, -1]
        elapsed = time.perf_counter() - start
    return steps // chunk * chunk * len(tasks) / elapsed


def _state(env: gymnasium.Env, spec: int) -> np.ndarray:
    state = np.empty(mujoco.mj_stateSize(env.model, spec))
    mujoco.mj_getState(env.model, env.data, state, spec)
    return state


def sync_vector_rate(env_id: str, tasks: list[Task], make_policy: Callable, steps: int) -> float:
    """Env steps per second of ``SyncVectorEnv`` over the same envs with the policy in the loop."""
    envs = gymnasium.vector.SyncVectorEnv(
        [functools.partial(gymnasium.make, env_id, task=task) for task in tasks]
    )
    policy = make_policy(envs.single_observation_space.shape[0])
    obs, _ = envs.reset(seed=0)
    obs, *_ = envs.step(policy(obs))  # warm up
    start = time.perf_counter()
    for _ in range(steps):
        obs, *_ = envs.step(policy(obs))
    elapsed = time.perf_counter() - start
    envs.close()
    return steps * len(tasks) / elapsed


def measure(family: str, args: argparse.Namespace) -> dict[str, float | int]:
    """The four rates of one family, and the ratios of the policy rate to the baselines."""
    tasks = make_task_distribution(family, seed=0).sample(args.tasks, np.random.default_rng(0))
    env_tasks = [task for task in tasks for _ in range(args.envs_per_task)]
    threads = args.threads or os.cpu_count() or 1
    sim = BatchedSimulator(family, tasks, args.envs_per_task, n_threads=threads)
    low, high = sim.action_low, sim.action_high

    def make_policy(obs_dim: int) -> Policy:
        return mlp_policy(obs_dim, low, high, seed=0)

    env_id = f"metarl/{family}-v0"
    result: dict[str, float | int] = {
        "num_envs": sim.num_envs,
        "steps": args.steps,
        "ceiling_steps": args.ceiling_steps,
        "sync_steps": args.sync_steps,
        "threads": threads,
        "workers": args.workers,
        "repeats": args.repeats,
        "random_steps_per_s": simulator_rate(
            sim, random_policy(low, high, sim.num_envs, 0), args.steps
        ),
        "policy_steps_per_s": simulator_rate(sim, make_policy(sim.observation_dim), args.steps),
    }

    def compared_rates() -> dict[str, float]:
        rates = {
            "sync_vector_steps_per_s": sync_vector_rate(
                env_id, env_tasks, make_policy, args.sync_steps
            )
        }
        if args.backends:
            rates.update(backend_rates(family, tasks, args, threads))
        return rates

    result.update(median_rates(compared_rates, args.repeats))
    if args.ceiling_steps:
        result["ceiling_steps_per_s"] = ceiling_rate(env_id, env_tasks, args.ceiling_steps, threads)
        result["random_over_ceiling"] = result["random_steps_per_s"] / result["ceiling_steps_per_s"]
        result["policy_over_ceiling"] = result["policy_steps_per_s"] / result["ceiling_steps_per_s"]
    if args.backends:
        sync = result["sync_vector_steps_per_s"]
        for backend in ("generic_mujoco", "gym"):
            if f"{backend}_policy_steps_per_s" in result:
                result[f"{backend}_over_sync"] = result[f"{backend}_policy_steps_per_s"] / sync
            if f"{backend}_workers_policy_steps_per_s" in result:
                sharded = result[f"{backend}_workers_policy_steps_per_s"]
                result[f"{backend}_workers_over_sync"] = sharded / sync
        if args.ceiling_steps and "generic_mujoco_policy_steps_per_s" in result:
            generic = result["generic_mujoco_policy_steps_per_s"]
            result["generic_over_ceiling"] = generic / result["ceiling_steps_per_s"]
    result["policy_over_sync"] = result["policy_steps_per_s"] / result["sync_vector_steps_per_s"]
    return {name: round(value, 3) for name, value in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["HalfCheetahVel", "AntVel"])
    parser.add_argument("--tasks", type=int, default=40, help="tasks (default 40)")
    parser.add_argument("--envs-per-task", type=int, default=20, help="envs per task (20)")
    parser.add_argument("--steps", type=int, default=200, help="simulator steps per measurement")
    parser.add_argument(
        "--ceiling-steps", type=int, default=100, help="rollout env steps (0: no ceiling)"
    )
    parser.add_argument("--sync-steps", type=int, default=20, help="SyncVectorEnv steps")
    parser.add_argument(
        "--repeats", type=int, default=1, help="rounds of SyncVectorEnv and backends (median)"
    )
    parser.add_argument("--threads", type=int, default=0, help="MuJoCo threads (0: all cores)")
    parser.add_argument(
        "--workers", type=int, default=1, help="with --backends: also in N worker processes"
    )
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--backends", action="store_true", help="also each simulator backend")
    parser.add_argument("--plugins", nargs="*", default=[], help="plugin files to import first")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write the JSON object here")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    for plugin in args.plugins:
        load_plugin(str(Path(plugin).resolve()))

    results = {family: measure(family, args) for family in args.families}
    text = json.dumps(results, indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for family, row in results.items():
        ceiling = row.get("ceiling_steps_per_s")
        print(
            f"{family}: {row['num_envs']} envs, random {row['random_steps_per_s']:.0f}/s, "
            f"policy {row['policy_steps_per_s']:.0f}/s, "
            + (f"ceiling {ceiling:.0f}/s, " if ceiling else "")
            + f"SyncVectorEnv {row['sync_vector_steps_per_s']:.0f}/s; "
            f"policy/sync {row['policy_over_sync']:.2f}"
        )


if __name__ == "__main__":
    main()
