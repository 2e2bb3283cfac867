"""The CLI end to end on tiny sinusoid runs: train, resume, evaluate, plot, and clear errors."""

import json
from pathlib import Path

import pytest
import torch

from metarl.cli import main

REPO = Path(__file__).resolve().parents[1]
SINUSOID = str(REPO / "experiments" / "fewshot" / "sinusoid_maml.toml")
TINY = [
    "--set",
    "learner.meta_batch_size=4",
    "--set",
    "run.log_every=2",
    "--set",
    "run.checkpoint_every=3",
]


def train(tmp_path: Path, name: str, iterations: int, *extra: str) -> Path:
    run_dir = tmp_path / name
    code = main(
        [
            "train",
            SINUSOID,
            "--iterations",
            str(iterations),
            "--run-dir",
            str(run_dir),
            *TINY,
            *extra,
        ]
    )
    assert code == 0
    return run_dir


def test_train_writes_a_complete_run_directory(tmp_path):
    run_dir = train(tmp_path, "run", 4, "--seed", "3")
    assert {"config.toml", "command.txt", "checkpoint.pt", "metrics.jsonl", "tensorboard"} <= {
        p.name for p in run_dir.iterdir()
    }
    config = (run_dir / "config.toml").read_text()
    assert "seed = 3" in config and "iterations = 4" in config and "meta_batch_size = 4" in config
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [2, 4]
    assert "meta_train/mse" in lines[0]
    assert any(
        p.name.startswith("events.out.tfevents") for p in (run_dir / "tensorboard").iterdir()
    )


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = train(tmp_path, "straight", 6)
    interrupted = train(tmp_path, "interrupted", 3)
    assert main(["train", "--resume", str(interrupted), "--iterations", "6"]) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=False)
    b = torch.load(interrupted / "checkpoint.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 6
    for name, value in a["trainer"]["model"].items():
        assert torch.equal(value, b["trainer"]["model"][name]), name

    def losses(run_dir: Path) -> dict[int, float]:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        return {r["iteration"]: r["meta_train/loss"] for r in map(json.loads, lines)}

    straight_losses, resumed_losses = losses(straight), losses(interrupted)
    assert set(straight_losses) == {2, 4, 6} and set(resumed_losses) == {2, 3, 4, 6}
    assert all(straight_losses[i] == resumed_losses[i] for i in (2, 4, 6))
    # Wall time counts on across the resume instead of restarting from zero.
    lines = (interrupted / "metrics.jsonl").read_text().splitlines()
    wall = [r["time/wall_s"] for r in map(json.loads, lines)]
    assert wall == sorted(wall) and wall[2] > wall[1]


def test_evaluate_writes_curve_json_and_plot(tmp_path, capsys):
    run_dir = train(tmp_path, "run", 2)
    assert main(["evaluate", str(run_dir), "--steps", "3", "--tasks", "12"]) == 0
    result = json.loads((run_dir / "evaluation.json").read_text())
    assert result["metric"] == "mse"
    assert result["adaptation_steps"] == [0, 1, 2, 3]
    assert len(result["mean"]) == len(result["ci95"]) == 4
    assert result["n_tasks"] == 12
    assert all(c > 0 for c in result["ci95"])
    png = (run_dir / "adaptation.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    out = tmp_path / "both.png"
    assert main(["plot", str(run_dir), str(run_dir), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "mse after 3 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "learner.inner_lrr=0.1"], "unknown config key 'learner.inner_lrr'"),
        (["--set", "learner.algorithm=maml2"], "bad value 'maml2' for 'learner.algorithm'"),
        (["--set", "data.dataset=mnist"], "bad value 'mnist' for 'data.dataset'"),
        (["--set", "data.shots=-2"], "shots must be >= 1, got shots=-2"),
        (["--set", "data.dataset=omniglot"], "omniglot needs a data directory"),
        (
            ["--set", "data.dataset=omniglot", "--data-dir", "/nonexistent/omniglot-py"],
            "/nonexistent/omniglot-py",
        ),
    ],
)
def test_bad_configs_fail_with_one_line_and_write_nothing(tmp_path, capsys, args, message):
    run_dir = tmp_path / "run"
    code = main(["train", SINUSOID, "--iterations", "2", "--run-dir", str(run_dir), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not run_dir.exists()


def test_resume_of_a_non_run_and_reuse_of_a_run_dir_are_refused(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "is not a metarl run" in capsys.readouterr().err
    run_dir = train(tmp_path, "run", 2)
    before = (run_dir / "config.toml").read_text()
    code = main(
        [
            "train",
            SINUSOID,
            "--iterations",
            "2",
            "--run-dir",
            str(run_dir),
            "--set",
            "learner.inner_lr=0.5",
        ]
    )
    assert code == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run_dir / "config.toml").read_text() == before
    assert main(["evaluate", str(tmp_path / "absent")]) == 2
    assert "run directory not found" in capsys.readouterr().err
