"""``metarl render``: check the request, load the run's policy, and hand over to the RL renderer.

Every input is checked before anything is computed or written, so a bad one costs one line.
"""

from __future__ import annotations

from pathlib import Path

from metarl.envs.task_files import read_tasks_file
from metarl.errors import ConfigError, RunDirError
from metarl.experiment import resolve_config
from metarl.media import check_output
from metarl.runs import RunDir


def render_run(
    run_dir: Path,
    out: Path,
    tasks: int,
    tasks_file: Path | None,
    steps: list[int],
    seed: int,
    split: str,
    rollouts: int | None,
    allow_out_of_range: bool = False,
) -> Path:
    """Render the run at ``run_dir`` (see :class:`metarl.agents.render.RenderOptions`)."""
    check_output(out)
    if min(steps) < 0:
        raise ConfigError(f"--steps must be 0 or more, got {min(steps)}")
    if tasks < 1:
        raise ConfigError(f"--tasks must be positive, got {tasks}")
    if rollouts is not None and rollouts < 1:
        raise ConfigError(f"--rollouts must be positive, got {rollouts}")
    run = RunDir.open(run_dir)
    kind, config = resolve_config(run.raw_config(), [])
    if config.kind != "rl":
        raise ConfigError(f"{run_dir} is a {config.kind!r} run; render draws RL runs only")
    family = config.env.family
    task_list = None
    if tasks_file is not None:
        task_list = read_tasks_file(tasks_file, family, allow_out_of_range)
    trainer = kind.build_trainer(config)
    if not run.has_checkpoint():
        raise RunDirError(f"{run_dir} has no checkpoint yet; train it first")
    trainer.load_state_dict(run.load_checkpoint()["trainer"])

    from metarl.agents.experiment import trained_policy
    from metarl.agents.render import RenderOptions, render
    from metarl.agents.rl2 import RL2Trainer

    options = RenderOptions(
        out=out,
        steps=tuple(steps),
        tasks=tasks,
        task_list=None if task_list is None else tuple(task_list),
        split=split,
        rollouts=rollouts,
        seed=seed,
    )
    policy = trainer.policy if isinstance(trainer, RL2Trainer) else trained_policy(trainer)
    return render(config, policy, options)  # type: ignore[arg-type]
