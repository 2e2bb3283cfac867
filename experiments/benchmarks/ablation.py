"""One config with and without some overrides, at equal meta-iterations: held-out accuracy.

Each variant is the config plus its ``--set``-style overrides, trained from the same seed on the
same episodes (``iteration_rng``) for ``--iterations`` meta-iterations, as ``metarl train`` would,
then evaluated on ``--tasks`` test episodes after the config's ``eval.steps`` adaptation steps
(mean ± 95% CI, the same episodes for every variant). ``--eval-variant NAME:learner.KEY=VALUE``
also evaluates a trained variant with a learner setting changed for evaluation only (e.g.
per-step batch norm with its running statistics), without training it again.

Usage (MAML++ with and without per-step batch norm):
    python experiments/benchmarks/ablation.py experiments/fewshot/omniglot_5w1s_mamlpp.toml \\
        --data-dir ../shared/datasets/omniglot-py --iterations 300 \\
        --variant "no_bn:learner.per_step_norm=false" --variant "bn:" \\
        --eval-variant "bn:learner.norm_at_test=\\"running\\"" \\
        --json --out experiments/benchmarks/results/mamlpp_per_step_norm.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from metarl.config import read_toml
from metarl.experiment import resolve_config
from metarl.fewshot.experiment import FewShotTrainer, adaptation_curves
from metarl.stats import mean_ci95
from metarl.training import iteration_rng


def split_variant(text: str) -> tuple[str, list[str]]:
    """``"NAME:KEY=VALUE,KEY=VALUE"`` → ``(NAME, [KEY=VALUE, ...])``."""
    name, _, overrides = text.partition(":")
    return name, [item for item in overrides.split(",") if item]


def accuracy(trainer: FewShotTrainer, tasks: int) -> dict[str, float]:
    evaluation = trainer.config.eval
    started = time.perf_counter()
    curves = adaptation_curves(trainer, "test", tasks, evaluation.steps, evaluation.batch)
    mean, ci95 = mean_ci95(curves[:, -1])
    return {"accuracy": mean, "ci95": ci95, "eval_seconds": time.perf_counter() - started}


def run_variant(
    path: Path, overrides: list[str], args: argparse.Namespace
) -> tuple[FewShotTrainer, float]:
    """The trained variant and its training seconds (not counting loading the data)."""
    data_dir = f"data.data_dir={json.dumps(str(args.data_dir))}"
    _, config = resolve_config(read_toml(path), [data_dir, *overrides])
    trainer = FewShotTrainer(config)
    started = time.perf_counter()
    for iteration in range(args.iterations):
        trainer.train_iteration(iteration, iteration_rng(config.run.seed, iteration))
    return trainer, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True, help="the omniglot-py folder")
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--variant", action="append", required=True, help="NAME:KEY=VALUE,...")
    parser.add_argument("--eval-variant", action="append", default=[], help="NAME:KEY=VALUE")
    parser.add_argument("--tasks", type=int, default=600, help="test episodes")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "benchmark": "ablation",
        "config": str(args.config),
        "iterations": args.iterations,
        "tasks": args.tasks,
        "threads": args.threads,
        "torch": torch.__version__,
        "variants": {},
    }
    extra = [split_variant(text) for text in args.eval_variant]
    for name, overrides in map(split_variant, args.variant):
        trainer, seconds = run_variant(args.config, overrides, args)
        row = {"overrides": overrides, "train_seconds": seconds}
        row.update(accuracy(trainer, args.tasks))
        result["variants"][name] = row
        for target, eval_overrides in extra:
            if target != name:
                continue
            learner = trainer.learner
            for item in eval_overrides:
                key, _, value = item.partition("=")
                if not key.startswith("learner."):
                    parser.error(f"--eval-variant takes learner.* settings, not {key}")
                learner.config = dataclasses.replace(
                    learner.config, **{key.removeprefix("learner."): json.loads(value)}
                )
            result["variants"][f"{name}+{','.join(eval_overrides)}"] = accuracy(trainer, args.tasks)
        if not args.json:
            print(name, json.dumps(row))
        if args.out is not None:  # after every variant, so a run cut short keeps what it did
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
