"""The ``metarl`` command line: train, resume, evaluate and plot meta-learners; list families."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

from metarl.config import RunConfig, dump_toml, read_toml, to_dict
from metarl.errors import ConfigError, MetarlError, RunDirError
from metarl.experiment import EvaluateOptions, resolve_config
from metarl.plotting import plot_adaptation_curves
from metarl.runs import RunDir, default_run_dir
from metarl.stats import divergence_warnings
from metarl.training import resume_point, train

EXAMPLES = """examples:
  metarl train experiments/fewshot/sinusoid_maml.toml --iterations 2000
  metarl train experiments/fewshot/omniglot_5w1s_protonet.toml \\
      --data-dir ../shared/datasets/omniglot-py
  metarl train --resume runs/sinusoid_maml-20260101-120000 --iterations 4000
  metarl evaluate runs/sinusoid_maml-20260101-120000 --steps 10 --tasks 600
  metarl plot runs/a runs/b --out comparison.png
  metarl sweep experiments/navigation2d_maml.toml --seeds 0 1 2 --grid agent.inner_lr=0.05,0.1
  metarl render runs/navigation2d_maml-20260101-120000 --tasks 3 --steps 0 1 3 --out nav.png
  metarl envs
"""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``metarl: error: ...``, exit 2)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"metarl: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="metarl",
        description="Meta-RL and few-shot meta-learning on one meta-optimizer core.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train_parser = commands.add_parser(
        "train",
        help="meta-train what a config describes, or resume a run",
        description="Meta-train the learner or agent a TOML config describes (see experiments/), "
        "writing config, checkpoints, metrics.jsonl and TensorBoard logs to a run directory.",
    )
    train_parser.add_argument("config", nargs="?", type=Path, help="experiment TOML file")
    add_set_option(
        train_parser,
        "KEY=VALUE",
        "override a config key, e.g. --set learner.inner_lr=0.05 (repeatable); "
        "unknown keys are errors",
    )
    train_parser.add_argument("--iterations", type=int, help="number of meta-iterations in all")
    train_parser.add_argument("--seed", type=int, help="random seed (overrides run.seed)")
    train_parser.add_argument(
        "--run-dir", type=Path, help="run directory (default runs/<name>-<timestamp>)"
    )
    train_parser.add_argument(
        "--data-dir", type=Path, help="dataset folder (e.g. the omniglot-py folder)"
    )
    train_parser.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last checkpoint"
    )

    evaluate_parser = commands.add_parser(
        "evaluate",
        help="evaluate adaptation on held-out tasks",
        description="Adapt the run's meta-learned initialisation on held-out tasks and report the "
        "metric after 0..K steps (mean ± 95% CI, median beside) in RUN_DIR/evaluation.json and "
        "RUN_DIR/adaptation.png. Given a `metarl sweep` folder, evaluate each of its runs and "
        "add the curves' mean ± 95% CI over seeds per setting to its summary.",
    )
    evaluate_parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate_parser.add_argument("--split", default="test", choices=["train", "test"])
    evaluate_parser.add_argument(
        "--steps",
        type=int,
        help="adaptation steps K; RL²: episodes after the first (default: config)",
    )
    evaluate_parser.add_argument("--tasks", type=int, help="number of held-out tasks/episodes")
    evaluate_parser.add_argument("--rollouts", type=int, help="RL: rollouts per adaptation step")
    evaluate_parser.add_argument(
        "--baseline", type=Path, metavar="PPO_RUN_DIR", help="RL: pretrained PPO baseline run"
    )
    evaluate_parser.add_argument("--data-dir", type=Path, help="dataset folder (default: config)")
    add_set_option(
        evaluate_parser,
        "eval.KEY=VALUE",
        "override an [eval] key of the run's config for this evaluation, e.g. --set "
        "'eval.inner_lr=[0.1, 0.05]' (repeatable; recorded in evaluation.json)",
    )
    evaluate_parser.add_argument(
        "--tasks-file",
        type=Path,
        metavar="FILE.jsonl",
        help="RL: evaluate on these tasks (one Task JSON a line) instead of the split",
    )
    evaluate_parser.add_argument(
        "--task-range",
        action="append",
        default=[],
        metavar="NAME=LOW,HIGH",
        help="RL: draw the evaluation tasks with parameter NAME from U[LOW, HIGH] (repeatable)",
    )
    evaluate_parser.add_argument(
        "--allow-out-of-range",
        action="store_true",
        help="RL: accept tasks outside the family's ranges (--tasks-file, --task-range)",
    )

    plot_parser = commands.add_parser(
        "plot",
        help="overlay the adaptation curves of several evaluated runs",
        description="Overlay the curves in each RUN_DIR/evaluation.json (baselines included).",
    )
    plot_parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    plot_parser.add_argument("--out", type=Path, required=True, help="PNG file to write")

    render_parser = commands.add_parser(
        "render",
        help="draw episodes of an RL run's policy before and after adapting",
        description="Adapt the run's policy on held-out tasks as `metarl evaluate` does (same "
        "tasks, seeds and step sizes), record one episode per task after each listed step, and "
        "write them as a grid (rows = tasks, columns = steps): MuJoCo camera frames (MUJOCO_GL, "
        "default egl), or paths in the plane for families with a 2D view (Navigation2D). For an "
        "RL² run, column k is episode k + 1 of one trial per task.",
    )
    render_parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    which_tasks = render_parser.add_mutually_exclusive_group()
    which_tasks.add_argument(
        "--tasks", type=int, default=2, help="the first N held-out tasks (default 2)"
    )
    which_tasks.add_argument(
        "--tasks-file", type=Path, metavar="FILE", help="tasks as JSON lines (Task.to_json)"
    )
    render_parser.add_argument(
        "--steps", type=int, nargs="+", default=[0, 1], help="adaptation steps (default 0 1)"
    )
    render_parser.add_argument("--seed", type=int, default=0, help="seeds the shown episodes")
    render_parser.add_argument("--split", default="test", choices=["train", "test"])
    render_parser.add_argument("--rollouts", type=int, help="rollouts per adaptation step")
    render_parser.add_argument(
        "--allow-out-of-range",
        action="store_true",
        help="accept --tasks-file tasks outside the family's ranges",
    )
    render_parser.add_argument(
        "--out", type=Path, required=True, help="file to write: .png, .gif or .mp4"
    )

    sweep_parser = commands.add_parser(
        "sweep",
        help="train every seed x grid setting of a config on Ray, then summarise over seeds",
        description="Train one run directory per (grid setting, seed), OUT/<setting>/seed<N>, "
        "each as a Ray task that declares its CPUs (needs the ray extra). Launching the same "
        "sweep again skips finished runs and resumes the others. Writes OUT/sweep.json, "
        "OUT/sweep.md and OUT/sweep.png (mean ± 95%% CI over seeds per setting).",
    )
    sweep_parser.add_argument("config", type=Path, help="experiment TOML file")
    sweep_parser.add_argument("--seeds", type=int, nargs="+", required=True, help="run seeds")
    sweep_parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a config key and its values (repeatable; every combination is run)",
    )
    add_set_option(sweep_parser, "KEY=VALUE", "override a config key in every run (repeatable)")
    sweep_parser.add_argument("--iterations", type=int, help="meta-iterations of every run")
    sweep_parser.add_argument(
        "--address", default="local", help="Ray cluster: local (default), auto or ray://HOST:PORT"
    )
    sweep_parser.add_argument(
        "--cpus-per-run", type=float, default=1.0, help="CPUs each run's Ray task declares"
    )
    sweep_parser.add_argument("--metric", help="training metric to summarise (default: return)")
    sweep_parser.add_argument("--out", type=Path, help="sweep folder (default runs/sweep-<name>)")

    commands.add_parser(
        "envs",
        help="list the task families and their Gymnasium ids",
        description="List the meta-RL task families registered with Gymnasium.",
    )
    return parser


def add_set_option(parser: argparse.ArgumentParser, metavar: str, text: str) -> None:
    """The repeatable ``--set KEY=VALUE`` option, collected in ``args.overrides``."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar=metavar, help=text
    )


def cli_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides plus those implied by --iterations, --seed and --data-dir."""
    overrides = list(args.overrides)
    if args.iterations is not None:
        overrides.append(f"run.iterations={args.iterations}")
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    if args.data_dir is not None:
        overrides.append(f"data.data_dir={json.dumps(str(args.data_dir))}")
    return overrides


def with_plugins(raw: dict, folder: Path | None) -> dict:
    """The raw config with its ``[env] plugins`` resolved and imported (see metarl.envs.plugins)."""
    if "plugins" not in raw.get("env", {}):
        return raw
    from metarl.envs.plugins import prepare_plugins

    return prepare_plugins(raw, folder)


def command_train(args: argparse.Namespace) -> None:
    if args.resume is not None:
        if args.config is not None or args.overrides or args.seed is not None:
            raise ConfigError("--resume takes only --iterations; a run keeps its own config")
        run = RunDir.open(args.resume)
        overrides = [] if args.iterations is None else [f"run.iterations={args.iterations}"]
        kind, config = resolve_config(with_plugins(run.raw_config(), None), overrides)
        trainer = kind.build_trainer(config)
        run.lock()
        start, elapsed = resume_point(run, trainer)
        if overrides:
            (run.path / "config.toml").write_text(dump_toml(to_dict(config)))
        run.record_command()
    else:
        if args.config is None:
            raise ConfigError("train needs a CONFIG.toml (or --resume RUN_DIR)")
        raw = with_plugins(read_toml(args.config), args.config.parent)
        kind, config = resolve_config(raw, cli_overrides(args))
        trainer = kind.build_trainer(config)
        run = RunDir.create(args.run_dir or default_run_dir(config.run.name), to_dict(config))
        start, elapsed = 0, 0.0
    settings: RunConfig = config.run
    print(f"run directory: {run.path}", file=sys.stderr)
    train(
        run,
        trainer,
        settings.seed,
        settings.iterations,
        settings.log_every,
        settings.checkpoint_every,
        start,
        elapsed,
        settings.on_nonfinite,
    )


def command_evaluate(args: argparse.Namespace) -> None:
    if (args.run_dir / "sweep.json").is_file():
        from metarl.sweep import evaluate_sweep

        def evaluate_run(path: Path) -> None:
            command_evaluate(argparse.Namespace(**{**vars(args), "run_dir": path}))

        evaluate_sweep(args.run_dir, evaluate_run)
        print((args.run_dir / "sweep.md").read_text(), end="")
        return
    run = RunDir.open(args.run_dir)
    not_eval = [item for item in args.overrides if not item.startswith("eval.")]
    if not_eval:
        raise ConfigError(f"evaluate --set takes [eval] keys only (eval.KEY=VALUE), got {not_eval}")
    overrides = list(args.overrides)
    if args.data_dir is not None:
        overrides.append(f"data.data_dir={json.dumps(str(args.data_dir))}")
    kind, config = resolve_config(with_plugins(run.raw_config(), None), overrides)
    chooses_tasks = args.tasks_file is not None or args.task_range or args.allow_out_of_range
    if chooses_tasks and config.kind != "rl":
        raise ConfigError("--tasks-file, --task-range and --allow-out-of-range are for RL runs")
    if args.tasks_file is not None and args.task_range:
        raise ConfigError("give --tasks-file or --task-range, not both")
    trainer = kind.build_trainer(config)
    resume_point(run, trainer)
    options = EvaluateOptions(
        tasks_file=args.tasks_file,
        task_range=tuple(args.task_range),
        allow_out_of_range=args.allow_out_of_range,
        split=args.split,
        steps=args.steps,
        tasks=args.tasks,
        rollouts=args.rollouts,
        baseline=args.baseline,
        data_dir=args.data_dir,
    )
    for name in ("steps", "tasks", "rollouts"):
        value = getattr(options, name)
        if value is not None and value < (0 if name == "steps" else 1):
            raise ConfigError(f"--{name} must be positive, got {value}")
    result = kind.evaluate(config, trainer, run, options)
    unit = "episodes of experience" if result.get("x_axis") == "episodes of experience" else "steps"
    for step, mean, ci, median in zip(
        result["adaptation_steps"], result["mean"], result["ci95"], result["median"], strict=True
    ):
        print(
            f"{result['metric']} after {step} {unit}: {mean:.4f} ± {ci:.4f} (median {median:.4f})"
        )
    if "success_rate" in result:
        rate = result["success_rate"]
        for step, mean, ci in zip(
            result["adaptation_steps"], rate["mean"], rate["ci95"], strict=True
        ):
            print(f"success rate after {step} {unit}: {mean:.3f} ± {ci:.3f}")
    for warning in divergence_warnings(result):
        print(f"metarl: warning: {warning}", file=sys.stderr)
    for name, baseline in result.get("baselines", {}).items():
        final = f"{baseline['mean'][-1]:.4f} ± {baseline['ci95'][-1]:.4f}"
        print(
            f"baseline {name}: {result['metric']} after {baseline['adaptation_steps'][-1]} "
            f"{unit}: {final}"
        )
    plots = " and ".join(
        str(run.path / name)
        for name in ("adaptation.png", "success.png")
        if (run.path / name).is_file()
    )
    print(f"wrote {run.path / 'evaluation.json'} and {plots}")


def command_plot(args: argparse.Namespace) -> None:
    curves, metrics = [], set()
    for path in args.run_dirs:
        evaluation = path / "evaluation.json"
        if not evaluation.is_file():
            raise RunDirError(f"{path} has no evaluation.json; run `metarl evaluate {path}` first")
        result = json.loads(evaluation.read_text())
        metrics.add(result["metric"])
        curves.append((path.name, result))
        for name, baseline in result.get("baselines", {}).items():
            curves.append((f"{path.name}: {name}", baseline))
    if len(metrics) > 1:
        raise ConfigError(f"runs report different metrics {sorted(metrics)}; plot them apart")
    out = plot_adaptation_curves(curves, metrics.pop(), args.out)
    print(f"wrote {out}")


def command_render(args: argparse.Namespace) -> None:
    from metarl.render import render_run

    out = render_run(
        args.run_dir,
        args.out,
        tasks=args.tasks,
        tasks_file=args.tasks_file,
        steps=args.steps,
        seed=args.seed,
        split=args.split,
        rollouts=args.rollouts,
        allow_out_of_range=args.allow_out_of_range,
    )
    print(f"wrote {out}")


def command_sweep(args: argparse.Namespace) -> None:
    from metarl.sweep import run_sweep

    out = (
        args.out
        or Path("runs") / f"sweep-{read_toml(args.config).get('run', {}).get('name', 'run')}"
    )
    run_sweep(
        args.config,
        args.seeds,
        args.grid,
        out,
        args.overrides,
        args.iterations,
        args.address,
        args.cpus_per_run,
        args.metric,
    )
    print((out / "sweep.md").read_text(), end="")
    print(f"wrote {out / 'sweep.json'}, {out / 'sweep.md'} and {out / 'sweep.png'}")


def command_envs(_: argparse.Namespace) -> None:
    from metarl.envs import list_families

    rows = list_families()
    width = max(len(family) for family, _, _ in rows)
    id_width = max(len(env_id) for _, env_id, _ in rows)
    for family, env_id, description in rows:
        print(f"{family:<{width}}  {env_id:<{id_width}}  {description}")


COMMANDS = {
    "train": command_train,
    "evaluate": command_evaluate,
    "plot": command_plot,
    "render": command_render,
    "sweep": command_sweep,
    "envs": command_envs,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metarl`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except MetarlError as error:
        print(f"metarl: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an unreadable or unwritable path
        print(f"metarl: error: {error.strerror or error}: {error.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metarl: interrupted; resume with `metarl train --resume RUN_DIR`", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
