"""Speed of one MAML-RL meta-iteration: HalfCheetahVel, 40 tasks x 20 rollouts x horizon 100.

That is 160,000 environment steps per meta-iteration (80,000 before and 80,000 after the inner
step), the TRPO step included. Reports wall seconds per meta-iteration, end-to-end env-steps/s
and where the time goes (sampling, inner updates, meta-gradient + conjugate gradient, line search).

    python experiments/benchmarks/rl_speed.py --json [--set trpo.fisher_fraction=0.2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from metarl.agents.config import RLExperiment
from metarl.agents.trainer import MetaRLTrainer
from metarl.config import apply_overrides, from_dict, read_toml
from metarl.training import iteration_rng

CONFIG = Path(__file__).resolve().parents[1] / "halfcheetah_vel_maml.toml"
PHASES = ("sample_s", "inner_s", "meta_grad_s", "line_search_s")


def measure(overrides: list[str], iterations: int) -> dict:
    """Time ``iterations`` meta-iterations after one warm-up iteration."""
    raw = apply_overrides(read_toml(CONFIG), ["env.horizon=100", *overrides])
    config = from_dict(RLExperiment, raw)
    trainer = MetaRLTrainer(config)
    trainer.train_iteration(0, iteration_rng(0, 0))  # warm-up: allocations, thread pools
    records = []
    for iteration in range(1, iterations + 1):
        started = time.perf_counter()
        scalars = trainer.train_iteration(iteration, iteration_rng(0, iteration))
        wall = time.perf_counter() - started
        records.append({"wall_s": wall, **{p: scalars[f"time/{p}"] for p in PHASES}})
    steps_per_iteration = trainer.env_steps / (iterations + 1)
    mean = {key: float(np.mean([r[key] for r in records])) for key in records[0]}
    return {
        "family": config.env.family,
        "tasks": config.agent.meta_batch_size,
        "rollouts": config.agent.rollouts,
        "horizon": config.env.horizon,
        "fisher_fraction": config.trpo.fisher_fraction,
        "iterations_timed": iterations,
        "env_steps_per_iteration": steps_per_iteration,
        "seconds_per_iteration": mean["wall_s"],
        "env_steps_per_s": steps_per_iteration / mean["wall_s"],
        "seconds": {phase: mean[phase] for phase in PHASES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3, help="timed meta-iterations")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    result = measure(args.set, args.iterations)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(
            f"{result['seconds_per_iteration']:.2f} s per meta-iteration, "
            f"{result['env_steps_per_s']:.0f} env-steps/s; phases: {result['seconds']}"
        )


if __name__ == "__main__":
    main()
