"""Time to result of MAML-TRPO on HalfCheetahVel at pytorch-maml-rl's config, against its figures.

The reference's ``configs/maml/halfcheetah-vel.yaml``: 40 tasks x 20 rollouts x horizon 100, a 2x64
tanh policy, one inner step of 0.1, second order, full curvature, TRPO max-KL 0.01, 40
meta-iterations. For each seed this trains (or resumes) ``metarl train
experiments/halfcheetah_vel_maml.toml`` with those settings plus ``--set`` overrides, then reads
the runs' ``metrics.jsonl``: the mean training return of the meta-batch before and after the inner
step at every meta-iteration, and the cumulative training seconds (``time/wall_s``).

Reported, mean ± 95% CI over seeds: pre/post return and adaptation gain (post − pre) averaged over
iterations 1-3 and 38-40 (the windows of the reference's figures in issue #17), the curves per
iteration, and the time to result: the first iteration (and its training seconds) at which the
post-adaptation return averaged over the last 3 iterations reaches the reference's 40-iteration
figure (−68.0).

    python experiments/benchmarks/cheetah_time_to_result.py --label action_scale10 --seeds 0 1 2 \\
        --runs-dir runs/bench_cheetah --train [--set policy.action_scale=1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from metarl.stats import mean_ci95

CONFIG = Path(__file__).resolve().parents[1] / "halfcheetah_vel_maml.toml"
RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE_CONFIG = ["env.horizon=100", "policy.hidden=[64, 64]", "trpo.fisher_fraction=1.0"]
ITERATIONS = 40
WINDOWS = {f"iterations_{a}_{a + 2}": (a, a + 2) for a in (1, 18, 28, 38)}
# pytorch-maml-rl, one seed, ported to gymnasium 1.4 / MuJoCo 4.0 (issue #17): pre / post return.
REFERENCE = {
    "iterations_1_3": {"pre": -104.3, "post": -104.1},
    "iterations_38_40": {"pre": -75.9, "post": -68.0},
}
TARGET_POST = REFERENCE["iterations_38_40"]["post"]


def train(run_dir: Path, seed: int, overrides: list[str], threads: int) -> None:
    """Train (or resume) one seed to ``ITERATIONS`` meta-iterations."""
    settings = [*REFERENCE_CONFIG, f"env.threads={threads}", *overrides]
    command = [sys.executable, "-m", "metarl.cli", "train", "--iterations", str(ITERATIONS)]
    if (run_dir / "checkpoint.pt").exists():
        command += ["--resume", str(run_dir)]
    else:
        command += [str(CONFIG), "--seed", str(seed), "--run-dir", str(run_dir)]
        command += [arg for setting in settings for arg in ("--set", setting)]
    subprocess.run(command, check=True)


def read_run(run_dir: Path) -> dict[str, np.ndarray]:
    """Per-iteration pre/post returns and cumulative training seconds of one run."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = {row["iteration"]: row for row in rows}  # a resumed run may repeat iterations
    ordered = [rows[i] for i in sorted(rows)]
    return {
        "pre": np.array([row["meta_train/return_pre"] for row in ordered]),
        "post": np.array([row["meta_train/return_post"] for row in ordered]),
        "seconds": np.array([row["time/wall_s"] for row in ordered]),
    }


def time_to_target(run: dict[str, np.ndarray], window: int = 3) -> dict[str, float] | None:
    """First iteration whose post return, averaged over the last ``window``, reaches the target."""
    post = run["post"]
    for end in range(window, len(post) + 1):
        if post[end - window : end].mean() >= TARGET_POST:
            return {"iteration": end, "seconds": float(run["seconds"][end - 1])}
    return None


def _ci(values: list[float]) -> dict[str, float]:
    mean, half = mean_ci95(values)
    return {"mean": mean, "ci95": half}


def summarize(runs: dict[int, dict[str, np.ndarray]]) -> dict:
    """Windows, curves and time to result over the seeds that got that far (runs cut short by
    the time budget count where they have data; ``iterations_done`` says how far each got)."""
    windows = {}
    for name, (first, last) in WINDOWS.items():
        done = [run for run in runs.values() if len(run["post"]) >= last]
        per_seed = {
            key: [float(run[key][first - 1 : last].mean()) for run in done]
            for key in ("pre", "post")
        }
        per_seed["gain"] = list(np.subtract(per_seed["post"], per_seed["pre"]))
        windows[name] = {key: {**_ci(v), "per_seed": v} for key, v in per_seed.items()}

    def curve(values: Callable[[dict[str, np.ndarray], int], float]) -> list[dict[str, float]]:
        return [
            {"n": len(have), **_ci([values(run, i) for run in have])}
            for i in range(ITERATIONS)
            if (have := [run for run in runs.values() if len(run["post"]) > i])
        ]

    return {
        "seeds": sorted(runs),
        "iterations_done": {seed: len(run["post"]) for seed, run in runs.items()},
        "windows": windows,
        "curves": {
            **{key: curve(lambda run, i, key=key: float(run[key][i])) for key in ("pre", "post")},
            "gain": curve(lambda run, i: float(run["post"][i] - run["pre"][i])),
            "seconds": curve(lambda run, i: float(run["seconds"][i])),
        },
        "seconds_per_iteration": _ci(
            [float(run["seconds"][-1]) / len(run["seconds"]) for run in runs.values()]
        ),
        "time_to_reference_post": {
            "target": TARGET_POST,
            "per_seed": {seed: time_to_target(run) for seed, run in runs.items()},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="name of the variant (results file)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench_cheetah"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--train", action="store_true", help="train or resume missing seeds")
    parser.add_argument("--threads", type=int, default=1, help="simulator threads per run")
    args = parser.parse_args()
    runs = {}
    for seed in args.seeds:
        run_dir = args.runs_dir / f"{args.label}-s{seed}"
        if args.train:
            train(run_dir, seed, args.set, args.threads)
        if (run_dir / "metrics.jsonl").exists():
            runs[seed] = read_run(run_dir)
    result = {
        "label": args.label,
        "config": [str(CONFIG.relative_to(CONFIG.parents[1])), *REFERENCE_CONFIG, *args.set],
        "iterations": ITERATIONS,
        "reference": REFERENCE,
        **summarize(runs),
    }
    path = RESULTS / f"cheetah_{args.label}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    keys = ("label", "iterations_done", "windows", "time_to_reference_post")
    print(json.dumps({key: result[key] for key in keys}, indent=1))


if __name__ == "__main__":
    main()
