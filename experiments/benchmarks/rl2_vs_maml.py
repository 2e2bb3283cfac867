"""RL² against MAML-RL at an equal env-step budget, from evaluated run directories.

Every run must have been evaluated (``metarl evaluate RUN_DIR``) on the same split, tasks and
evaluation seed; this collects their curves, their training env steps and wall time into one JSON
and prints a table. With several runs per method (training seeds), it adds each method's curve
and baselines as mean ± 95% CI over the runs' means (``over_seeds``). ``--maml-result`` replaces
the MAML run directories by an earlier JSON of this script (its MAML entries) or a MAML
``evaluation.json`` (whose training budget is then not known here); the tasks are still checked
to be the same. Usage::

    python experiments/benchmarks/rl2_vs_maml.py --rl2 runs/nav_rl2 --maml runs/nav_maml \
        --out experiments/benchmarks/results/rl2_navigation2d_1m.json
    python experiments/benchmarks/rl2_vs_maml.py --rl2 runs/nav_rl2 \
        --maml-result experiments/benchmarks/results/navigation2d_maml.json --out NEW.json
    python experiments/benchmarks/rl2_vs_maml.py --rl2 runs/dir_rl2_s{0,1,2} \
        --maml runs/dir_maml_s{0,1,2} --out experiments/benchmarks/results/rl2_halfcheetah_dir.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from metarl.stats import mean_ci95


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


def maml_result(path: Path) -> list[dict]:
    """The MAML entries of an earlier result of this script, or one made of an evaluation.json."""
    data = json.loads(path.read_text())
    if "maml" in data:
        return data["maml"] if isinstance(data["maml"], list) else [data["maml"]]
    keep = ("algorithm", "family", "adaptation_steps", "mean", "ci95", "n_tasks", "split")
    return [
        {
            "run": path.name,
            "iterations": None,
            "train_env_steps": None,
            "train_wall_s": None,
            **{key: data[key] for key in keep},
            "x_axis": "inner steps",
            "experience_rollouts": [
                k * data["rollouts_per_step"] for k in data["adaptation_steps"]
            ],
            "baselines": data["baselines"],
            "tasks": data["tasks"],
        }
    ]


def over_seeds(results: list[dict]) -> dict:
    """Mean ± 95% CI over the runs of the curve's and each baseline's per-point means."""

    def curve(means: list[list[float]]) -> dict:
        points = [mean_ci95(values) for values in zip(*means, strict=True)]
        return {"mean": [m for m, _ in points], "ci95": [c for _, c in points]}

    baselines = results[0]["baselines"]
    return {
        "runs": len(results),
        "experience_rollouts": results[0]["experience_rollouts"],
        **curve([r["mean"] for r in results]),
        "baselines": {
            name: curve([r["baselines"][name]["mean"] for r in results]) for name in baselines
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rl2", type=Path, nargs="+", required=True, help="evaluated RL² runs")
    parser.add_argument("--maml", type=Path, nargs="+", help="evaluated MAML run directories")
    parser.add_argument("--maml-result", type=Path, help="earlier JSON or MAML evaluation.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if (args.maml is None) == (args.maml_result is None):
        parser.error("give either MAML run directories or --maml-result")
    rl2 = [summary(run) for run in args.rl2]
    maml = [summary(run) for run in args.maml] if args.maml else maml_result(args.maml_result)
    if any(result["tasks"] != rl2[0]["tasks"] for result in rl2 + maml):
        raise SystemExit("the runs were evaluated on different tasks")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    measured = {"load_average": os.getloadavg(), "timestamp": stamp}
    seeds = {"rl2": over_seeds(rl2), "maml": over_seeds(maml)}
    output = {"rl2": rl2, "maml": maml, "over_seeds": seeds, **measured}
    args.out.write_text(json.dumps(output, indent=2) + "\n")
    for name, result in [(r["run"], r) for r in rl2 + maml] + list(seeds.items()):
        points = zip(result["experience_rollouts"], result["mean"], result["ci95"], strict=True)
        row = ", ".join(f"{x}: {m:.1f} ± {c:.1f}" for x, m, c in points)
        print(f"{name} ({result.get('train_env_steps', 'over seeds')}): {row}")


if __name__ == "__main__":
    main()
