"""Multi-seed sweeps on Ray: ``metarl sweep CONFIG --seeds 0 1 2 --grid KEY=V1,V2 ...``.

Every combination of a grid setting and a seed is an ordinary run directory,
``OUT/<setting>/seed<N>``, trained by ``metarl train`` inside a Ray task that declares its CPUs,
so each run can be resumed, evaluated and plotted alone. Launching the same sweep again skips the
finished runs and resumes the others from their checkpoints. The summary, written after every
launch, is ``OUT/sweep.json``, a markdown table ``OUT/sweep.md`` and ``OUT/sweep.png``: the
training metric's mean ± 95% CI over seeds per setting. ``metarl evaluate OUT`` evaluates every
run and adds each setting's adaptation curve over seeds (``OUT/sweep_adaptation.png``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metarl.cluster import connect
from metarl.config import parse_override, read_toml
from metarl.errors import ConfigError
from metarl.plotting import plot_adaptation_curves
from metarl.runs import RunDir
from metarl.stats import mean_ci95

METRICS = ("meta_train/return_post", "meta_train/return_pre")
"""The training metric summarised by default: the first of these a run logs (else the first
``meta_train/`` tag)."""


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: a grid setting (``key=value`` overrides) and a seed."""

    setting: tuple[str, ...]
    seed: int
    path: Path

    def train_args(self, config: Path, overrides: Sequence[str], iterations: int | None) -> list:
        """The ``metarl train`` arguments that start or continue this run."""
        more = [] if iterations is None else ["--iterations", str(iterations)]
        if (self.path / "config.toml").is_file():
            return ["train", "--resume", str(self.path), *more]
        sets = [arg for item in (*overrides, *self.setting) for arg in ("--set", item)]
        seed = ["--seed", str(self.seed)]
        return ["train", str(config), *sets, *seed, *more, "--run-dir", str(self.path)]


def parse_grid(items: Sequence[str]) -> list[tuple[str, ...]]:
    """``["a.b=1,2", "c.d=x,y"]`` → every setting as overrides, first key varying slowest."""
    axes = []
    for item in items:
        path, _ = parse_override(item)
        key, values = ".".join(path), item.split("=", 1)[1].split(",")
        if not all(v.strip() for v in values):
            raise ConfigError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        axes.append([f"{key}={value.strip()}" for value in values])
    return [tuple(setting) for setting in itertools.product(*axes)]


def setting_name(setting: tuple[str, ...]) -> str:
    """The folder name of a setting: its overrides joined, "base" without any."""
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", ",".join(setting)) or "base"


def sweep_runs(settings: list[tuple[str, ...]], seeds: Sequence[int], out: Path) -> list[SweepRun]:
    """Every (setting, seed) pair, with its run directory under ``out``."""
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"--seeds must be distinct and at least one, got {list(seeds)}")
    return [
        SweepRun(setting, seed, out / setting_name(setting) / f"seed{seed}")
        for setting in settings
        for seed in seeds
    ]


def finished(run: SweepRun, iterations: int | None) -> bool:
    """Whether the run has checkpointed its last iteration (its config's, or ``iterations``)."""
    path = RunDir(run.path)
    if not path.path.joinpath("config.toml").is_file() or not path.has_checkpoint():
        return False
    target = iterations or int(path.raw_config()["run"]["iterations"])
    return (path.checkpoint_iteration() or 0) >= target


def train_in_task(args: list[str]) -> int:
    """``metarl train`` with ``args`` (in a Ray worker); its exit status."""
    from metarl.cli import main

    return main(args)


def launch(
    config: Path,
    runs: list[SweepRun],
    overrides: Sequence[str],
    iterations: int | None,
    cpus_per_run: float,
    ray: Any,
) -> dict[Path, str]:
    """Train the unfinished runs as Ray tasks of ``cpus_per_run`` CPUs; each run's status
    ("skipped" when finished before, "trained", "resumed", or "failed (exit N)")."""
    task = ray.remote(num_cpus=cpus_per_run, max_retries=0)(train_in_task)
    status, pending = {}, {}
    for run in runs:
        if finished(run, iterations):
            status[run.path] = "skipped"
            continue
        args = run.train_args(config.resolve(), overrides, iterations)
        pending[task.remote(args)] = (run, "resumed" if "--resume" in args else "trained")
    while pending:
        [done], _ = ray.wait(list(pending), num_returns=1)
        run, verb = pending.pop(done)
        try:
            code = ray.get(done)
            outcome = verb if code == 0 else f"failed (exit {code})"
        except ray.exceptions.RayError as error:
            outcome = f"failed ({type(error).__name__})"
        status[run.path] = outcome
        print(f"{run.path}: {status[run.path]}")
    return status


def training_metric(records: list[dict[str, Any]], metric: str | None) -> str:
    """``metric``, or the default one (see ``METRICS``) these metric records have."""
    keys = {key for record in records for key in record}
    if metric is not None:
        if metric not in keys:
            raise ConfigError(f"no run logged {metric!r}; logged: {sorted(keys)}")
        return metric
    for name in (*METRICS, *sorted(k for k in keys if k.startswith("meta_train/"))):
        if name in keys:
            return name
    raise ConfigError("the runs logged no meta_train/ metric yet")


def over_seeds(curves: list[tuple[list[int], list[float]]]) -> dict[str, list[float]]:
    """Mean ± 95% CI over seeds at the x values every seed has."""
    common = sorted(set.intersection(*(set(x) for x, _ in curves)))
    values = np.array([[dict(zip(x, y, strict=True))[c] for c in common] for x, y in curves])
    pairs = [mean_ci95(values[:, i]) for i in range(len(common))]
    return {"x": common, "mean": [m for m, _ in pairs], "ci95": [c for _, c in pairs]}


def summarize(
    runs: list[SweepRun], status: dict[Path, str], out: Path, metric: str | None = None
) -> dict[str, Any]:
    """Write ``sweep.json``, ``sweep.md`` and ``sweep.png`` (and ``sweep_adaptation.png`` when
    every run is evaluated) under ``out``; returns the summary."""
    metrics = {run.path: _metrics(run.path) for run in runs}
    metric = training_metric([r for records in metrics.values() for r in records], metric)
    settings: dict[tuple[str, ...], list[SweepRun]] = {}
    for run in runs:
        settings.setdefault(run.setting, []).append(run)
    summary: dict[str, Any] = {"metric": metric, "runs": [], "settings": []}
    curves, adaptation = [], []
    for setting, members in settings.items():
        per_seed = []
        for run in members:
            logged = [(r["iteration"], r[metric]) for r in metrics[run.path] if metric in r]
            evaluation = _evaluation(run.path)
            summary["runs"].append(
                {
                    "setting": list(setting),
                    "seed": run.seed,
                    "path": str(run.path.relative_to(out)),
                    "status": status.get(run.path, "not launched"),
                    "iterations": logged[-1][0] if logged else 0,
                    "final": logged[-1][1] if logged else None,
                    "evaluation_final": evaluation["mean"][-1] if evaluation else None,
                }
            )
            if logged:
                per_seed.append(([i for i, _ in logged], [v for _, v in logged]))
        entry: dict[str, Any] = {"setting": list(setting), "name": setting_name(setting)}
        if per_seed:
            curve = over_seeds(per_seed)
            entry.update(seeds=len(per_seed), final_mean=curve["mean"][-1], curve=curve)
            entry["final_ci95"] = curve["ci95"][-1]
            curves.append((entry["name"], _plot_curve(curve, "meta-iterations")))
        evaluations = [_evaluation(run.path) for run in members]
        if all(evaluations):
            steps = [(e["adaptation_steps"], e["mean"]) for e in evaluations]
            entry["evaluation"] = over_seeds(steps)
            adaptation.append((entry["name"], _plot_curve(entry["evaluation"], "inner steps")))
        summary["settings"].append(entry)
    (out / "sweep.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "sweep.md").write_text(markdown_table(summary))
    if curves:
        title = f"{metric}: mean ± 95% CI over seeds"
        plot_adaptation_curves(curves, metric, out / "sweep.png", title)
    if adaptation:
        title = "adaptation after meta-training: mean ± 95% CI over seeds"
        plot_adaptation_curves(adaptation, "return", out / "sweep_adaptation.png", title)
    return summary


def markdown_table(summary: dict[str, Any]) -> str:
    """One row per setting: seeds, final training metric (mean ± CI), evaluation after K."""
    lines = [
        f"| setting | seeds | {summary['metric']} at the last iteration | evaluation, last step |",
        "|---|---|---|---|",
    ]
    for entry in summary["settings"]:
        final = (
            f"{entry['final_mean']:.2f} ± {entry['final_ci95']:.2f} (it. {entry['curve']['x'][-1]})"
            if "curve" in entry
            else "–"
        )
        evaluation = entry.get("evaluation")
        after = (
            f"{evaluation['mean'][-1]:.2f} ± {evaluation['ci95'][-1]:.2f}" if evaluation else "–"
        )
        lines.append(f"| {entry['name']} | {entry.get('seeds', 0)} | {final} | {after} |")
    return "\n".join(lines) + "\n"


def _plot_curve(curve: dict[str, list[float]], axis: str) -> dict[str, Any]:
    return {"x_axis": axis, "adaptation_steps": curve["x"], **curve}


def _metrics(path: Path) -> list[dict[str, Any]]:
    return RunDir(path).read_metrics() if path.joinpath("config.toml").is_file() else []


def _evaluation(path: Path) -> dict[str, Any] | None:
    file = path / "evaluation.json"
    return json.loads(file.read_text()) if file.is_file() else None


def evaluate_sweep(out: Path, evaluate_run: Callable[[Path], None]) -> dict[str, Any]:
    """``evaluate_run`` on every run of the sweep in ``out`` that has a checkpoint, one after the
    other in this process, then the summary again (now with the evaluations over seeds)."""
    previous = json.loads((out / "sweep.json").read_text())
    runs, status = [], {}
    for record in previous["runs"]:
        run = SweepRun(tuple(record["setting"]), record["seed"], out / record["path"])
        runs.append(run)
        status[run.path] = record["status"]
        if RunDir(run.path).has_checkpoint():
            evaluate_run(run.path)
    return summarize(runs, status, out, previous["metric"])


def run_sweep(
    config: Path,
    seeds: Sequence[int],
    grid: Sequence[str],
    out: Path,
    overrides: Sequence[str] = (),
    iterations: int | None = None,
    address: str = "local",
    cpus_per_run: float = 1.0,
    metric: str | None = None,
) -> dict[str, Any]:
    """Train (or resume, or skip) every run of the sweep on Ray, then summarise it."""
    read_toml(config)  # a missing or malformed config fails here, before anything starts
    out = out.resolve()  # Ray workers need not share this process's working directory
    runs = sweep_runs(parse_grid(grid), seeds, out)
    out.mkdir(parents=True, exist_ok=True)
    status = launch(config, runs, overrides, iterations, cpus_per_run, connect(address))
    return summarize(runs, status, out, metric)
