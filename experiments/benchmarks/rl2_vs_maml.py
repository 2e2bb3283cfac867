"""RL² against MAML-RL at an equal env-step budget, from two evaluated run directories.

Both runs must have been evaluated (``metarl evaluate RUN_DIR``) on the same split, tasks and
evaluation seed; this collects their curves, their training env steps and wall time into one JSON
and prints a table. ``--maml-result`` replaces the MAML run directory by an earlier JSON of this
script (its MAML entry) or a MAML ``evaluation.json`` (whose training budget is then not known
here); the tasks are still checked to be the same. Usage::

    python experiments/benchmarks/rl2_vs_maml.py runs/nav_rl2 runs/nav_maml \
        --out experiments/benchmarks/results/rl2_navigation2d_1m.json
    python experiments/benchmarks/rl2_vs_maml.py runs/nav_rl2 \
        --maml-result experiments/benchmarks/results/navigation2d_maml.json --out NEW.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def last_metrics(run: Path) -> dict:
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])


def summary(run: Path) -> dict:
    evaluation = json.loads((run / "evaluation.json").read_text())
    metrics = last_metrics(run)
    keep = ("algorithm", "family", "x_axis", "adaptation_steps", "experience_rollouts", "mean")
    optional = {key: evaluation[key] for key in ("gain_over_episode1",) if key in evaluation}
    return {
        "run": run.name,
        "iterations": metrics["iteration"],
        "train_env_steps": int(metrics["time/env_steps"]),
        "train_wall_s": metrics["time/wall_s"],
        **{key: evaluation[key] for key in (*keep, "ci95", "n_tasks", "split")},
        **optional,
        "baselines": evaluation["baselines"],
        "tasks": evaluation["tasks"],
    }


def maml_result(path: Path) -> dict:
    """The MAML entry of an earlier result of this script, or one made of an evaluation.json."""
    data = json.loads(path.read_text())
    if "maml" in data:
        return data["maml"]
    keep = ("algorithm", "family", "adaptation_steps", "mean", "ci95", "n_tasks", "split")
    return {
        "run": path.name,
        "iterations": None,
        "train_env_steps": None,
        "train_wall_s": None,
        **{key: data[key] for key in keep},
        "x_axis": "inner steps",
        "experience_rollouts": [k * data["rollouts_per_step"] for k in data["adaptation_steps"]],
        "baselines": data["baselines"],
        "tasks": data["tasks"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rl2", type=Path)
    parser.add_argument("maml", type=Path, nargs="?", help="evaluated MAML run directory")
    parser.add_argument("--maml-result", type=Path, help="earlier JSON or MAML evaluation.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if (args.maml is None) == (args.maml_result is None):
        parser.error("give either a MAML run directory or --maml-result")
    rl2 = summary(args.rl2)
    maml = summary(args.maml) if args.maml is not None else maml_result(args.maml_result)
    if rl2["tasks"] != maml["tasks"]:
        raise SystemExit("the two runs were evaluated on different tasks")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    measured = {"load_average": os.getloadavg(), "timestamp": stamp}
    args.out.write_text(json.dumps({"rl2": rl2, "maml": maml, **measured}, indent=2) + "\n")
    for result in (rl2, maml):
        points = zip(result["experience_rollouts"], result["mean"], result["ci95"], strict=True)
        row = ", ".join(f"{x}: {m:.1f} ± {c:.1f}" for x, m, c in points)
        print(f"{result['run']} ({result['train_env_steps']} env steps): {row}")


if __name__ == "__main__":
    main()
