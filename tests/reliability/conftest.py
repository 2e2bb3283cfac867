"""Tiny Navigation2D and sinusoid runs shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from metarl.cli import main

REPO = Path(__file__).resolve().parents[2]
SINUSOID = str(REPO / "experiments" / "fewshot" / "sinusoid_maml.toml")
NAVIGATION = str(REPO / "experiments" / "navigation2d_maml.toml")
TINY_SINUSOID = ["--set", "learner.meta_batch_size=4", "--set", "eval.tasks=6"]
TINY_NAVIGATION = [
    *("--set", "agent.meta_batch_size=2", "--set", "agent.rollouts=2"),
    *("--set", "env.horizon=10", "--set", "policy.hidden=[8]", "--set", "env.threads=1"),
    *("--set", "eval.tasks=3", "--set", "eval.rollouts=2", "--set", "eval.steps=1"),
]


def run_cli(argv: list[str]) -> int:
    """``metarl ARGV`` in this process; the exit status, also for argparse's SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.fixture(scope="module")
def trained_sinusoid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-iteration sinusoid run with a checkpoint (shared, read-only for the tests)."""
    run_dir = tmp_path_factory.mktemp("trained") / "sinusoid"
    argv = ["train", SINUSOID, "--iterations", "2", "--run-dir", str(run_dir), *TINY_SINUSOID]
    assert run_cli(argv) == 0
    return run_dir
