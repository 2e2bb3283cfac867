"""Does RL² learn to use its memory? The CueBandit diagnostic, trained and evaluated per seed.

CueBandit (``experiments/plugins/cue_bandit.py``) pays only on an episode's first step, so a
trial's second episode can beat its first only by remembering the first episode's reward across
the reset and the zero-reward steps after it; a policy without memory earns 0 on average in every
episode. For each seed this trains ``experiments/plugins/cue_bandit_rl2.toml`` through the CLI,
evaluates episodes 1..3 of 50 trials per task (``metarl evaluate``), and records the curves of
the trained and the untrained policy, the training env steps and wall time. Usage::

    python experiments/benchmarks/rl2_memory.py --seeds 0 1 2 \
        --out experiments/benchmarks/results/rl2_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from metarl.cli import main as metarl

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "experiments" / "plugins" / "cue_bandit_rl2.toml"


def train_and_evaluate(run_dir: Path, seed: int, overrides: list[str]) -> dict[str, Any]:
    """Train the CueBandit config with ``seed`` into ``run_dir``, evaluate it, and summarise."""
    sets = [arg for override in ["env.threads=1", *overrides] for arg in ("--set", override)]
    args = ["train", str(CONFIG), "--seed", str(seed), "--run-dir", str(run_dir), *sets]
    if metarl(args) != 0 or metarl(["evaluate", str(run_dir)]) != 0:
        raise RuntimeError(f"metarl failed on seed {seed}")
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    untrained = evaluation["baselines"]["random_init"]
    return {
        "seed": seed,
        "iterations": last["iteration"],
        "train_env_steps": int(last["time/env_steps"]),
        "train_wall_s": last["time/wall_s"],
        "episodes": evaluation["episodes"],
        "mean": evaluation["mean"],
        "ci95": evaluation["ci95"],
        "untrained_mean": untrained["mean"],
        "untrained_ci95": untrained["ci95"],
        "trials_per_task": evaluation["trials_per_task"],
        "n_tasks": evaluation["n_tasks"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], help="config override")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as runs:
        for seed in args.seeds:
            result = train_and_evaluate(Path(runs) / f"seed{seed}", seed, args.set)
            results.append(result)
            points = zip(result["episodes"], result["mean"], result["ci95"], strict=True)
            row = ", ".join(f"episode {k}: {m:.3f} ± {c:.3f}" for k, m, c in points)
            print(f"seed {seed} ({result['train_wall_s']:.1f} s): {row}", flush=True)
    result = {
        "config": os.path.relpath(CONFIG, REPO),
        "overrides": args.set,
        "seeds": results,
        "load_average": os.getloadavg(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
