"""What the CLI writes and prints: nothing in the system temp dir from the PPO baseline, no
doubled percent sign in help, the median beside the mean."""

from __future__ import annotations

import json
import tempfile

from .conftest import REPO, run_cli

PPO = str(REPO / "experiments" / "navigation2d_ppo.toml")


def test_ppo_baseline_writes_nothing_into_the_system_temp_dir(tmp_path, monkeypatch):
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    monkeypatch.setenv("TMPDIR", str(system_temp))
    tiny = ["pretrain.n_envs=2", "pretrain.n_steps=16", "pretrain.batch_size=16"]
    tiny += ["pretrain.n_epochs=1", "env.horizon=8", "policy.hidden=[8]"]
    run_dir = tmp_path / "run"
    argv = ["train", PPO, "--iterations", "2", "--run-dir", str(run_dir)]
    assert run_cli([*argv, *(arg for key in tiny for arg in ("--set", key))]) == 0
    assert [p.name for p in system_temp.iterdir() if p.name.startswith("SB3")] == []
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.pt",
        "command.txt",
        "config.toml",
        "metrics.jsonl",
        "tensorboard",
    ]


def test_evaluate_help_shows_single_percent_signs(capsys):
    assert run_cli(["evaluate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "95% CI" in out and "%%" not in out


def test_evaluate_prints_and_stores_the_median(trained_sinusoid, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("config.toml", "checkpoint.pt"):
        (run_dir / name).write_bytes((trained_sinusoid / name).read_bytes())
    assert run_cli(["evaluate", str(run_dir), "--steps", "1", "--tasks", "5"]) == 0
    result = json.loads((run_dir / "evaluation.json").read_text())
    assert result["diverged"] == [0, 0] and len(result["median"]) == 2
    line = capsys.readouterr().out.splitlines()[0]
    assert line.endswith(f"(median {result['median'][0]:.4f})")
