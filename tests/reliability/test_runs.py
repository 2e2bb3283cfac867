"""Run directories survive crashes: resume before the first checkpoint, a lock naming the
writer's PID, stale locks taken over; evaluation does not depend on batch or chunk sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from metarl.agents.evaluation import adaptation_curves as rl_adaptation_curves
from metarl.agents.evaluation import evaluation_tasks
from metarl.agents.rl2 import build_recurrent_policy, episode_curves
from metarl.agents.trainer import build_policy
from metarl.config import read_toml
from metarl.experiment import resolve_config
from metarl.fewshot.experiment import (
    EpisodeSource,
    FewShotTrainer,
    adaptation_curves,
    evaluation_episodes,
)
from metarl.runs import RunDir

from .conftest import NAVIGATION, SINUSOID, TINY_NAVIGATION, TINY_SINUSOID, run_cli

TIMES = ("time/",)


def learning_metrics(run_dir: Path) -> list[dict[str, float]]:
    """metrics.jsonl without wall-clock and speed scalars."""
    return [
        {k: v for k, v in row.items() if not k.startswith(TIMES)}
        for row in RunDir.open(run_dir).read_metrics()
    ]


def sinusoid_argv(run_dir: Path, iterations: int) -> list[str]:
    return [
        *("train", SINUSOID, "--iterations", str(iterations), "--run-dir", str(run_dir)),
        *(*TINY_SINUSOID, "--set", "run.log_every=1", "--set", "run.checkpoint_every=2"),
    ]


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_killed_before_its_first_checkpoint_resumes_from_iteration_0(tmp_path):
    reference = tmp_path / "reference"
    assert run_cli(sinusoid_argv(reference, 3)) == 0
    killed = tmp_path / "killed"
    assert run_cli([*sinusoid_argv(killed, 3), "--set", "run.checkpoint_every=100"]) == 0
    for name in ("checkpoint.pt", "metrics.jsonl"):  # as if killed before the first save
        (killed / name).unlink()
    (killed / "lock").write_text(f"{dead_pid()}\n")
    with open(killed / "metrics.jsonl", "w") as handle:  # and a line torn mid-write
        handle.write('{"iteration": 1, "meta_train/lo')

    assert run_cli(["train", "--resume", str(killed)]) == 0

    assert learning_metrics(killed) == learning_metrics(reference)
    assert not (killed / "lock").exists()


def test_a_live_writer_locks_the_run_and_a_second_one_gets_its_pid(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_cli(sinusoid_argv(run_dir, 2)) == 0
    capsys.readouterr()
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "lock").write_text(f"{writer.pid}\n")
        before = (run_dir / "metrics.jsonl").read_text()
        assert run_cli(["train", "--resume", str(run_dir), "--iterations", "4"]) == 2
        err = capsys.readouterr().err
        assert err == f"metarl: error: {run_dir} is in use by process {writer.pid}; " + (
            "wait for it or stop it\n"
        )
        assert (run_dir / "metrics.jsonl").read_text() == before
    finally:
        writer.kill()
        writer.wait()
    assert run_cli(["train", "--resume", str(run_dir), "--iterations", "4"]) == 0
    assert [row["iteration"] for row in RunDir.open(run_dir).read_metrics()] == [1, 2, 3, 4]


def test_the_lock_holds_this_process_pid_while_training(tmp_path):
    run = RunDir.create(tmp_path / "run", {"kind": "fewshot"})
    assert (run.path / "lock").read_text() == f"{os.getpid()}\n"
    run.close()
    assert not (run.path / "lock").exists()


def test_fewshot_evaluation_episodes_do_not_depend_on_the_batch_size():
    _, config = resolve_config(read_toml(Path(SINUSOID)), [])
    trainer = FewShotTrainer(config)
    source = EpisodeSource(config, "test")
    whole = evaluation_episodes(source, 0, "test", range(7))
    parts = [evaluation_episodes(source, 0, "test", r) for r in (range(3), range(3, 7))]
    for name in ("support_x", "support_y", "query_x", "query_y"):
        joined = torch.cat([getattr(part, name) for part in parts])
        assert torch.equal(joined, getattr(whole, name))
    assert len(set(whole.support_x[:, 0, 0].tolist())) == 7  # distinct episodes
    # the same episodes adapted in other batches: equal up to float32 summation order
    curve = adaptation_curves(trainer, "test", 7, 2, batch=7)
    np.testing.assert_allclose(adaptation_curves(trainer, "test", 7, 2, 2), curve, rtol=1e-5)
    np.testing.assert_allclose(adaptation_curves(trainer, "test", 4, 2, 3), curve[:4], rtol=1e-5)


def test_rl_evaluation_does_not_depend_on_the_meta_batch_size_or_task_count():
    overrides = [a for a in TINY_NAVIGATION if a != "--set"]
    _, small = resolve_config(read_toml(Path(NAVIGATION)), overrides)
    _, large = resolve_config(read_toml(Path(NAVIGATION)), [*overrides, "agent.meta_batch_size=5"])
    policy = build_policy(small, evaluation_tasks(small, "train", 1))
    tasks = evaluation_tasks(small, "test", 4)
    a = rl_adaptation_curves(small, policy, tasks, 1, 2, seed=3).returns
    b = rl_adaptation_curves(large, policy, tasks[:3], 1, 2, seed=3).returns
    assert a.shape == (4, 2)
    assert np.array_equal(a[:3], b)
    assert not np.array_equal(a, rl_adaptation_curves(small, policy, tasks, 1, 2, seed=4).returns)


def test_rl2_evaluation_does_not_depend_on_the_meta_batch_size_or_task_count():
    rl2_config = str(Path(NAVIGATION).with_name("navigation2d_rl2.toml"))
    overrides = ["env.horizon=5", "rl2.hidden=8", "agent.meta_batch_size=2"]
    _, small = resolve_config(read_toml(Path(rl2_config)), overrides)
    _, large = resolve_config(read_toml(Path(rl2_config)), [*overrides, "agent.meta_batch_size=5"])
    policy = build_recurrent_policy(small, evaluation_tasks(small, "train", 1))
    tasks = evaluation_tasks(small, "test", 4)
    a = episode_curves(small, policy, tasks, 2, 2, seed=3).returns
    b = episode_curves(large, policy, tasks[:3], 2, 2, seed=3).returns
    assert a.shape == (4, 2)
    assert np.array_equal(a[:3], b)
    assert not np.array_equal(a, episode_curves(small, policy, tasks, 2, 2, seed=4).returns)
