"""kill -9 of a training process at random moments, then ``--resume``: the finished run has the
same parameters and metrics as one that was never interrupted.

Moments: before the first checkpoint, while a checkpoint is being written (the ``.partial``
file exists), and between iterations after a checkpoint. The default run kills once between
iterations; ``-m slow`` kills four times at each moment.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from .conftest import SINUSOID, run_cli
from .test_runs import learning_metrics

ITERATIONS = 8
SMALL = ["--set", "learner.meta_batch_size=4", "--set", "run.log_every=1"]
BIG = [*SMALL, "--set", "learner.hidden=1200"]  # a checkpoint of ~35 MB: a wide write window


def argv(run_dir: Path, extra: list[str]) -> list[str]:
    iterations = ["--iterations", str(ITERATIONS), "--run-dir", str(run_dir)]
    return ["train", SINUSOID, *iterations, *extra]


def wait_for(condition, timeout: float = 120.0, poll: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the training process never reached the moment to kill")
        time.sleep(poll)


def kill_at(moment: str, run_dir: Path, extra: list[str], rng: random.Random) -> bool:
    """Start training in a subprocess and SIGKILL it at ``moment``; True if it was killed
    there (False: it finished first)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "metarl.cli", *argv(run_dir, extra)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        if moment == "before_first_checkpoint":
            wait_for(lambda: (run_dir / "config.toml").exists())
            time.sleep(rng.uniform(0.0, 0.3))
        elif moment == "during_checkpoint_write":
            skip = rng.randrange(1, 3)  # the first or the second checkpoint write
            wait_for(lambda: (run_dir / "checkpoint.pt").exists() or skip == 1)
            wait_for(lambda: (run_dir / "checkpoint.pt.partial").exists(), poll=0.0)
        else:
            wait_for(lambda: (run_dir / "checkpoint.pt").exists())
            time.sleep(rng.uniform(0.0, 0.5))
        state = {
            "checkpoint": (run_dir / "checkpoint.pt").exists(),
            "partial": (run_dir / "checkpoint.pt.partial").exists(),
        }
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    if process.returncode != -signal.SIGKILL:
        return False
    if moment == "before_first_checkpoint":
        return not state["checkpoint"]
    if moment == "during_checkpoint_write":
        return state["partial"]
    return state["checkpoint"]


class References:
    """Uninterrupted runs of the small and the big model, trained on first use."""

    def __init__(self, root: Path) -> None:
        self.root, self.runs = root, {}

    def __getitem__(self, size: str) -> Path:
        if size not in self.runs:
            self.runs[size] = self.root / size
            extra = [*(BIG if size == "big" else SMALL), "--set", "run.checkpoint_every=3"]
            assert run_cli(argv(self.runs[size], extra)) == 0
        return self.runs[size]


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> References:
    return References(tmp_path_factory.mktemp("uninterrupted"))


def assert_same_run(resumed: Path, reference: Path) -> None:
    ours = torch.load(resumed / "checkpoint.pt", weights_only=False)
    theirs = torch.load(reference / "checkpoint.pt", weights_only=False)
    assert ours["iteration"] == theirs["iteration"] == ITERATIONS
    model, expected = ours["trainer"]["model"], theirs["trainer"]["model"]
    assert all(torch.equal(model[name], expected[name]) for name in expected)
    assert learning_metrics(resumed) == learning_metrics(reference)


def kill_and_resume(tmp_path: Path, references: References, moment: str, seed: int) -> None:
    rng = random.Random(seed)
    size = "big" if moment == "during_checkpoint_write" else "small"
    every = ITERATIONS if moment == "before_first_checkpoint" else 3  # same parameters either way
    extra = [*(BIG if size == "big" else SMALL), "--set", f"run.checkpoint_every={every}"]
    run_dir = tmp_path / "run"
    if not kill_at(moment, run_dir, extra, rng):
        pytest.skip(f"the process was not caught at {moment} (it ran on); nothing to resume")
    assert run_cli(["train", "--resume", str(run_dir)]) == 0
    assert_same_run(run_dir, references[size])
    assert not (run_dir / "lock").exists()


def test_kill_between_iterations_then_resume_matches_an_uninterrupted_run(tmp_path, references):
    kill_and_resume(tmp_path, references, "between_iterations", seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "moment", ["before_first_checkpoint", "during_checkpoint_write", "between_iterations"]
)
def test_kill_at_random_moments_then_resume(tmp_path, references, moment, seed):
    kill_and_resume(tmp_path, references, moment, seed=100 + seed)
