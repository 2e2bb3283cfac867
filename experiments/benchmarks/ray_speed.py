"""Sampling speed of the Ray backend on one machine, what it ships, and a model for many machines.

In one process, on HalfCheetahVel 40 tasks x 20 rollouts x horizon 100 (the MAML config with
rl_speed.py's horizon), interleaved round by round:

- in-process: :class:`RolloutSampler`, one batched simulator on all cores (``env.threads`` unset);
- Ray: ``[sampler] backend = "ray"``, ``--workers`` actors of one CPU each on a local Ray instance;
- the physics ceiling: open-loop ``mujoco.rollout`` on the same envs and cores (throughput.py).

A round times one meta-iteration's sampling: set up the meta-batch (the in-process simulator, or
the workers' shard simulators), sample with the shared θ, then with per-task parameters (as the
query rollouts after the inner step). Env-steps/s counts the steps taken.

For the scaling model it also measures one worker's throughput (a 1-thread simulator of 1/workers
of the meta-batch, in this process), the bytes each call ships (θ or per-task parameters out,
episodes back) and their pickling time, and the learner's time per iteration on the full batch
(baselines and the inner step, then the TRPO outer step: meta-gradient, conjugate gradient, line
search), measured on a quarter of the batch (10 tasks) and scaled by 4: it grows linearly with the
episodes, and the full batch's second-order graph needs several GB that a shared machine may not
have (the first attempt was killed). AntVel's worker rate is measured on 5 tasks. Usage::

    python experiments/benchmarks/ray_speed.py --out experiments/benchmarks/results/ray_speed.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch

from metarl.agents.config import RLExperiment
from metarl.agents.episodes import Episodes
from metarl.agents.sampler import RolloutSampler
from metarl.agents.trainer import MetaRLTrainer, make_simulator
from metarl.config import apply_overrides, from_dict, read_toml
from metarl.training import iteration_rng

sys.path.insert(0, str(Path(__file__).parent))
from throughput import ceiling_rate  # noqa: E402

EXPERIMENTS = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
MACHINES = (1, 2, 4, 8, 16)
BANDWIDTH = 1.25e9
"""Bytes/s between machines assumed by the model (10 Gbit/s Ethernet); nothing here measures it."""


def load(config: str, overrides: list[str]) -> RLExperiment:
    raw = read_toml(EXPERIMENTS / config)
    return from_dict(RLExperiment, apply_overrides(raw, ["env.horizon=100", *overrides]))


def perturbed(params: dict[str, torch.Tensor], tasks: int) -> dict[str, torch.Tensor]:
    """Per-task parameters, as after an inner step."""
    generator = torch.Generator().manual_seed(0)
    return {
        name: value.detach() + 0.01 * torch.randn(tasks, *value.shape, generator=generator)
        for name, value in params.items()
    }


def sampling_round(trainer: MetaRLTrainer, iteration: int) -> dict[str, float]:
    """One meta-iteration's sampling: setup, then θ and per-task parameters."""
    rng = iteration_rng(0, iteration)
    tasks = trainer.tasks.sample(trainer.config.agent.meta_batch_size, rng)
    policies, theta = trainer.adaptation.policies, trainer.params
    started = time.perf_counter()
    sampler = trainer.meta_batch_sampler(tasks, rng)
    setup = time.perf_counter() - started
    steps = 0
    for params, batched in ((theta, False), (perturbed(theta, len(tasks)), True)):
        steps += sampler.sample(policies, params, batched, rng).steps()
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "setup_s": setup, "steps": steps, "steps_per_s": steps / seconds}
    if hasattr(sampler, "bytes_sent"):
        result.update(bytes_sent=sampler.bytes_sent, bytes_received=sampler.bytes_received)
    return result


def worker_rate(config: RLExperiment, tasks: int) -> float:
    """Env-steps/s of one 1-thread simulator of ``tasks`` tasks with θ (one worker's shard)."""
    trainer = MetaRLTrainer(config)
    rng = iteration_rng(0, 0)
    shard = trainer.tasks.sample(tasks, rng)
    simulator = make_simulator(config, shard, config.agent.rollouts, seed=0)
    sampler = RolloutSampler(simulator, tasks, config.env.horizon, config.policy.action_scale)
    sampler.sample(trainer.adaptation.policies, trainer.params, False, rng)  # warm up
    started = time.perf_counter()
    steps = sampler.sample(trainer.adaptation.policies, trainer.params, False, rng).steps()
    return steps / (time.perf_counter() - started)


def echo(params: dict[str, torch.Tensor], floats: int) -> torch.Tensor:
    """A worker's reply of ``floats`` float32 values (the Ray round trip without the work)."""
    del params
    return torch.zeros(floats)


def round_trip_seconds(workers: int, param_bytes: int, episode_bytes: int) -> float:
    """Median seconds of one sampling call's Ray traffic without its work: the parameters put
    once, ``workers`` tasks each fetching them and returning their share of the episodes."""
    remote = ray.remote(num_cpus=1)(echo)
    params = {"theta": torch.zeros(param_bytes // 4)}
    floats = episode_bytes // 4 // workers
    times = []
    for _ in range(6):
        started = time.perf_counter()
        ref = ray.put(params)
        ray.get([remote.remote(ref, floats) for _ in range(workers)])
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


def learner_seconds(config: RLExperiment) -> dict[str, float]:
    """Seconds of the learner's share of one iteration: the inner step, then the outer step."""
    trainer = MetaRLTrainer(config)
    rng = iteration_rng(0, 0)
    tasks = trainer.tasks.sample(config.agent.meta_batch_size, rng)
    sampler = trainer.meta_batch_sampler(tasks, rng)
    result = trainer.adaptation.run(sampler, trainer.params, 1, rng)
    started = time.perf_counter()
    trainer.learner.step(result.episodes[:-1], result.episodes[-1])
    return {"inner_s": result.seconds["inner"], "outer_s": time.perf_counter() - started}


def learner_quarter(config: RLExperiment) -> dict[str, Any]:
    """The learner's seconds on 10 of the 40 tasks, and 4 times them (``learner_s``)."""
    quarter = learner_seconds(
        dataclasses.replace(config, agent=dataclasses.replace(config.agent, meta_batch_size=10))
    )
    return {"learner_10_tasks": quarter, "learner_s": 4 * sum(quarter.values())}


def pickling_seconds(episodes: Episodes) -> float:
    """Seconds to pickle and unpickle one call's episodes (one hop's serialization)."""
    started = time.perf_counter()
    pickle.loads(pickle.dumps(episodes, protocol=5))
    return time.perf_counter() - started


def scaling_model(measured: dict[str, Any], cores: int) -> list[dict[str, Any]]:
    """Seconds per iteration on N machines of ``cores`` cores (one 1-CPU worker per core):
    sampling = steps / (N · cores · worker rate) + Ray's round trips on one machine (two calls);
    transfer = (episodes + N copies of the parameters) / BANDWIDTH through the learner's link,
    plus pickling; learner = measured. Sampling waits for the learner and vice versa."""
    rows = []
    for machines in MACHINES:
        sample = measured["steps"] / (machines * cores * measured["worker_steps_per_s"])
        sample += measured["ray_overhead_s"]
        shipped = measured["episode_bytes"] + machines * measured["param_bytes"]
        transfer = shipped / BANDWIDTH + measured["pickle_s"]
        learner = measured["learner_s"]
        rows.append(
            {
                "machines": machines,
                "workers": machines * cores,
                "sample_s": sample,
                "transfer_s": transfer,
                "learner_s": learner,
                "iteration_s": sample + transfer + learner,
                "learner_share": learner / (sample + transfer + learner),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved A/B/ceiling rounds")
    parser.add_argument("--workers", type=int, default=2, help="Ray sampler actors")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    base = ["sampler.cpus_per_worker=1", f"sampler.workers={args.workers}"]
    cheetah = load("halfcheetah_vel_maml.toml", base)
    local = MetaRLTrainer(cheetah)
    remote = MetaRLTrainer(load("halfcheetah_vel_maml.toml", [*base, "sampler.backend=ray"]))
    tasks = local.tasks.sample(40, np.random.default_rng(0))
    env_tasks = [task for task in tasks for _ in range(cheetah.agent.rollouts)]
    for trainer in (local, remote):
        sampling_round(trainer, 0)  # warm up
    rounds: list[dict[str, Any]] = []
    for index in range(1, args.rounds + 1):
        in_process, on_ray = sampling_round(local, index), sampling_round(remote, index)
        ceiling = ceiling_rate("metarl/HalfCheetahVel-v0", env_tasks, 100, cores)
        rounds.append({"in_process": in_process, "ray": on_ray, "ceiling_steps_per_s": ceiling})
        ratio = on_ray["steps_per_s"] / in_process["steps_per_s"]
        print(f"round {index}: ray / in-process = {ratio:.3f}", file=sys.stderr)
    remote.workers.close()
    print(json.dumps(rounds), file=sys.stderr)  # kept in the log if a later phase fails
    ratios = [r["ray"]["steps_per_s"] / r["in_process"]["steps_per_s"] for r in rounds]

    def median(path: tuple[str, ...]) -> float:
        values = []
        for r in rounds:
            value: Any = r
            for key in path:
                value = value[key]
            values.append(value)
        return float(np.median(values))

    rng = np.random.default_rng(0)
    sampler = local.meta_batch_sampler(tasks, rng)
    sample = sampler.sample(local.adaptation.policies, local.params, False, rng)
    shard = 40 // args.workers
    last = rounds[-1]["ray"]
    measured = {
        "steps": median(("ray", "steps")),
        "worker_steps_per_s": worker_rate(cheetah, shard),
        "episode_bytes": last["bytes_received"],
        "param_bytes": last["bytes_sent"],
        "pickle_s": 2 * pickling_seconds(sample),
    }
    ideal = measured["steps"] / (args.workers * measured["worker_steps_per_s"])
    measured["ray_minus_ideal_s"] = median(("ray", "seconds")) - ideal  # load shows up here
    calls = 2  # θ, then per-task parameters
    measured["ray_overhead_s"] = calls * round_trip_seconds(
        args.workers, last["bytes_sent"] // calls, last["bytes_received"] // calls
    )
    measured.update(learner_quarter(cheetah))
    ant = load("ant_vel_maml.toml", base)
    ant_measured = {
        **measured,
        "steps": 2 * 40 * 20 * 100,
        "worker_steps_per_s": worker_rate(ant, 5),
        **learner_quarter(ant),
    }
    ray.shutdown()
    idle = json.loads((RESULTS / "rl_speed.json").read_text())["seconds"]
    idle_learner = idle["inner_s"] + idle["meta_grad_s"] + idle["line_search_s"]
    result = {
        "benchmark": "ray_speed",
        "family": "HalfCheetahVel",
        "batch": "40 tasks x 20 rollouts x horizon 100, two sampling calls (theta, per-task)",
        "workers": args.workers,
        "cores": cores,
        "rounds": rounds,
        "in_process_steps_per_s": median(("in_process", "steps_per_s")),
        "ray_steps_per_s": median(("ray", "steps_per_s")),
        "ceiling_steps_per_s": median(("ceiling_steps_per_s",)),
        "ray_over_in_process": ratios,
        "ray_over_in_process_median": float(np.median(ratios)),
        "bytes_per_iteration": {
            "params_out": last["bytes_sent"],
            "episodes_back": last["bytes_received"],
        },
        "measured": {"HalfCheetahVel": measured, "AntVel": ant_measured},
        "bandwidth_assumed_bytes_per_s": BANDWIDTH,
        "scaling": {
            "HalfCheetahVel": scaling_model(measured, cores),
            "AntVel": scaling_model(ant_measured, cores),
        },
        "scaling_idle_learner": {
            "learner_s": idle_learner,
            "source": "rl_speed.json: inner + meta-gradient + line search, 40 tasks, idle",
            "HalfCheetahVel": scaling_model({**measured, "learner_s": idle_learner}, cores),
        },
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "ray": ray.__version__,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json or not args.out:
        print(text)


if __name__ == "__main__":
    main()
