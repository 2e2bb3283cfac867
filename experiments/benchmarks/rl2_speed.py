"""Env steps per second of RL² meta-training against the physics ceiling, in one process.

Builds the RL² trainer of a config (default ``experiments/halfcheetah_vel_rl2.toml``) and, for
``--repeats`` rounds, interleaves

- one full RL² iteration (trial rollouts of the whole meta-batch, one GRU call per step, then the
  PPO epochs), reported as env steps per second of sampling alone and of the whole iteration, and
- the physics ceiling of ``throughput.py`` (open-loop ``mujoco.rollout`` on the same number of
  envs of the same tasks, the same threads).

Usage::

    python experiments/benchmarks/rl2_speed.py --threads 1 \
        --out experiments/benchmarks/results/rl2_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from throughput import ceiling_rate  # noqa: E402

from metarl.agents.config import RLExperiment  # noqa: E402
from metarl.agents.rl2 import RL2Trainer  # noqa: E402
from metarl.config import apply_overrides, from_dict, read_toml  # noqa: E402
from metarl.training import iteration_rng  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "experiments/halfcheetah_vel_rl2.toml"))
    parser.add_argument("--threads", type=int, default=1, help="MuJoCo and torch threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="config override")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    raw = apply_overrides(read_toml(args.config), [f"env.threads={args.threads}", *args.set])
    config = from_dict(RLExperiment, raw)
    trainer = RL2Trainer(config)
    env_id = trainer.tasks.family.env_id
    rounds = []
    for repeat in range(args.repeats):
        before = trainer.env_steps
        scalars = trainer.train_iteration(repeat, iteration_rng(config.run.seed, repeat))
        steps = trainer.env_steps - before
        tasks = trainer.tasks.sample(config.agent.meta_batch_size, np.random.default_rng(repeat))
        envs = [task for task in tasks for _ in range(config.rl2.trials_per_task)]
        ceiling = ceiling_rate(env_id, envs, config.env.horizon, args.threads)
        rounds.append(
            {
                "env_steps": steps,
                "sample_steps_per_s": steps / scalars["time/sample_s"],
                "train_steps_per_s": scalars["time/env_steps_per_s"],
                "update_s": scalars["time/update_s"],
                "ceiling_steps_per_s": ceiling,
            }
        )
        print(json.dumps(rounds[-1]), flush=True)
    result = {
        "config": os.path.relpath(args.config, REPO),
        "overrides": args.set,
        "threads": args.threads,
        "num_envs": config.agent.meta_batch_size * config.rl2.trials_per_task,
        "rounds": rounds,
        "load_average": os.getloadavg(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
