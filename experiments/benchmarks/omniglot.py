"""Omniglot few-shot learners under equal wall-clock budgets: accuracy and time to 95%.

Each config is built and trained as ``metarl train`` does (``resolve_config``, the kind's
``build_trainer``, ``train_iteration`` with the ``iteration_rng`` of each iteration), but for
``--minutes`` of training time instead of a number of iterations, and without a run directory.
Every ``--eval-every`` seconds of training, the query accuracy after the config's ``eval.steps``
adaptation steps is measured on ``--eval-tasks`` test episodes, to find when it first reaches
``--target`` (the final evaluation counts as the last check); the final accuracy is the
mean ± 95% CI over ``--final-tasks`` test episodes. Evaluation time counts neither against the
budget nor towards ``time_to_95_s``. Evaluation episodes come from the same seeded stream as
``metarl evaluate``'s, so checks and final evaluation share their first episodes (nothing is
selected on them).

Cost on one CPU thread: evaluation takes about 0.15 s (ProtoNets) to 1 s (MAML, 3 steps) per
episode, more with 10 steps, so each config needs its budget plus several minutes of evaluation.
Configs run one after another; start several processes to use several cores.

Usage:
    python experiments/benchmarks/omniglot.py --data-dir ../shared/datasets/omniglot-py \\
        --minutes 5 --json --out experiments/benchmarks/results/omniglot.json
    python experiments/benchmarks/omniglot.py experiments/fewshot/omniglot_5w1s_maml.toml \\
        --data-dir ../shared/datasets/omniglot-py --minutes 0.2
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metarl.config import read_toml
from metarl.experiment import resolve_config
from metarl.fewshot.experiment import FewShotTrainer, adaptation_curves
from metarl.stats import mean_ci95
from metarl.training import iteration_rng

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIGS = sorted((REPO / "experiments" / "fewshot").glob("omniglot_*.toml"))


def held_out_accuracy(trainer: FewShotTrainer, n_tasks: int) -> np.ndarray:
    """Per-episode test accuracy after the config's ``eval.steps`` adaptation steps."""
    evaluation = trainer.config.eval
    curves = adaptation_curves(trainer, "test", n_tasks, evaluation.steps, evaluation.batch)
    return curves[:, -1]


def run_config(
    path: Path, args: argparse.Namespace, on_check: Callable[[list[dict[str, float]]], None]
) -> dict[str, Any]:
    """Train one config for the budget, checking test accuracy as it goes; then evaluate.

    ``on_check`` receives the checks so far after each one (to save partial curves).
    """
    overrides = [f"data.data_dir={json.dumps(str(args.data_dir))}"]
    kind, config = resolve_config(read_toml(path), overrides)
    if config.kind != "fewshot" or config.data.dataset != "omniglot":
        raise SystemExit(f"{path}: not an Omniglot few-shot config")
    trainer = kind.build_trainer(config)
    budget = 60 * args.minutes
    train_seconds, iterations, next_check = 0.0, 0, args.eval_every
    checks: list[dict[str, float]] = []
    time_to_target = None
    started = time.perf_counter()
    while train_seconds < budget:
        tick = time.perf_counter()
        trainer.train_iteration(iterations, iteration_rng(config.run.seed, iterations))
        train_seconds += time.perf_counter() - tick
        iterations += 1
        if next_check <= train_seconds < budget:
            next_check = (train_seconds // args.eval_every + 1) * args.eval_every
            accuracy = float(held_out_accuracy(trainer, args.eval_tasks).mean())
            checks.append({"train_s": train_seconds, "iteration": iterations, "accuracy": accuracy})
            if time_to_target is None and accuracy >= args.target:
                time_to_target = train_seconds
            on_check(checks)
    mean, ci95 = mean_ci95(held_out_accuracy(trainer, args.final_tasks))
    if time_to_target is None and mean >= args.target:
        time_to_target = train_seconds
    ways, shots, _ = config.data.episode_shape("test")
    return {
        "config": config.run.name,
        "algorithm": config.learner.algorithm,
        "ways": ways,
        "shots": shots,
        "eval_steps": config.eval.steps,
        "iterations": iterations,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - started,
        "accuracy": mean,
        "ci95": ci95,
        "time_to_95_s": time_to_target,
        "checks": checks,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "configs",
        nargs="*",
        type=Path,
        default=DEFAULT_CONFIGS,
        help="few-shot Omniglot configs (default: experiments/fewshot/omniglot_*.toml)",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the omniglot-py folder")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per config")
    parser.add_argument("--eval-every", type=float, default=60.0, help="training seconds")
    parser.add_argument("--eval-tasks", type=int, default=100, help="episodes per check")
    parser.add_argument("--final-tasks", type=int, default=600, help="episodes at the end")
    parser.add_argument("--target", type=float, default=0.95, help="accuracy for time_to_95_s")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="write the JSON here (and partial curves)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "benchmark": "omniglot",
        "minutes": args.minutes,
        "threads": args.threads,
        "target": args.target,
        "eval_tasks": args.eval_tasks,
        "final_tasks": args.final_tasks,
        "torch": torch.__version__,
        "runs": [],
    }

    def save() -> None:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2) + "\n")

    for path in args.configs:

        def save_partial(checks: list[dict[str, float]], path: Path = path) -> None:
            result["in_progress"] = {"config": str(path), "checks": checks}
            save()

        row = run_config(path, args, save_partial)
        result.pop("in_progress", None)
        result["runs"].append(row)
        save()
        if not args.json:
            reached = row["time_to_95_s"]
            print(
                f"{row['config']}: {row['iterations']} iterations in {row['train_seconds']:.0f} s, "
                f"accuracy {row['accuracy']:.4f} ± {row['ci95']:.4f}, time to "
                f"{args.target:.0%}: {'not reached' if reached is None else f'{reached:.0f} s'}"
            )
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
