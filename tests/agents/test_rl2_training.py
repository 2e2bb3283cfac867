"""RL² through the CLI on tiny Navigation2D runs: exact resume, the per-episode evaluation, and
`metarl plot` overlaying it with a MAML curve on rollouts of experience."""

import json
from pathlib import Path

import torch

from metarl.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "experiments" / "navigation2d_rl2.toml"
TINY = [
    "--set", "agent.meta_batch_size=3",
    "--set", "rl2.trials_per_task=2",
    "--set", "rl2.episodes_per_trial=2",
    "--set", "rl2.minibatch_trials=4",
    "--set", "rl2.epochs=2",
    "--set", "rl2.hidden=8",
    "--set", "rl2.bptt=5",
    "--set", "env.horizon=6",
    "--set", "run.checkpoint_every=1",
    "--set", "eval.tasks=4",
    "--set", "eval.rollouts=2",
]  # fmt: skip


def train(tmp_path: Path, name: str, iterations: int) -> Path:
    run_dir = tmp_path / name
    args = ["train", str(CONFIG), "--iterations", str(iterations), "--run-dir", str(run_dir)]
    assert main([*args, *TINY]) == 0
    return run_dir


def metrics(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if not k.startswith("time/")} for line in lines]


def test_resumed_rl2_run_continues_exactly(tmp_path):
    straight = train(tmp_path, "straight", 2)
    interrupted = train(tmp_path, "interrupted", 1)
    assert main(["train", "--resume", str(interrupted), "--iterations", "2"]) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=False)["trainer"]
    b = torch.load(interrupted / "checkpoint.pt", weights_only=False)["trainer"]
    assert a["env_steps"] == b["env_steps"] == 2 * 3 * 2 * 2 * 6
    for name, value in a["policy"].items():
        torch.testing.assert_close(value, b["policy"][name], rtol=0, atol=0)
    assert metrics(straight) == metrics(interrupted)
    assert {"adapt/return_episode1", "adapt/return_episode2"} <= set(metrics(straight)[0])


def test_evaluate_reports_each_episode_and_plot_overlays_maml(tmp_path, capsys):
    run_dir = train(tmp_path, "rl2", 1)
    assert main(["evaluate", str(run_dir), "--steps", "2"]) == 0
    assert "return after 2 episodes of experience" in capsys.readouterr().out
    result = json.loads((run_dir / "evaluation.json").read_text())
    assert result["algorithm"] == "rl2" and result["x_axis"] == "episodes of experience"
    assert result["episodes"] == [1, 2, 3] and result["experience_rollouts"] == [0, 1, 2]
    assert len(result["mean"]) == len(result["ci95"]) == 3 and result["n_tasks"] == 4
    gain = result["gain_over_episode1"]  # paired over tasks: mean of differences
    assert gain["mean"][0] == gain["ci95"][0] == 0
    for j in (1, 2):
        assert abs(gain["mean"][j] - (result["mean"][j] - result["mean"][0])) < 1e-9
    assert result["baselines"]["random_init"]["x_axis"] == "episodes of experience"
    maml = tmp_path / "maml"
    maml.mkdir()
    curve = {"metric": "return", "x_axis": "inner steps", "adaptation_steps": [0, 1]}
    curve |= {"experience_rollouts": [0, 20], "mean": [-40.0, -20.0], "ci95": [2.0, 2.0]}
    (maml / "evaluation.json").write_text(json.dumps(curve))
    out = tmp_path / "overlay.png"
    assert main(["plot", str(run_dir), str(maml), "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    del curve["experience_rollouts"]
    (maml / "evaluation.json").write_text(json.dumps(curve))
    assert main(["plot", str(run_dir), str(maml), "--out", str(tmp_path / "bad.png")]) == 2
    assert not (tmp_path / "bad.png").exists()
    assert "experience_rollouts" in capsys.readouterr().err


def test_target_kl_stops_the_epochs_before_the_update_that_would_pass_it(tmp_path):
    # 6 trials in minibatches of 4, 2 epochs: 4 updates unless stopped. The first minibatch runs
    # the sampling policy (KL 0 up to rounding); after one Adam step the KL is far above 1.5e-9.
    full = train(tmp_path, "full", 1)
    args = ["train", str(CONFIG), "--iterations", "1", "--run-dir", str(tmp_path / "stopped")]
    assert main([*args, *TINY, "--set", "rl2.target_kl=1e-9"]) == 0
    assert metrics(full)[0]["meta_train/updates"] == 4
    stopped = metrics(tmp_path / "stopped")[0]
    assert stopped["meta_train/updates"] == 1
    assert stopped["meta_train/approx_kl"] > 0
    assert main([*args, *TINY, "--set", "rl2.target_kl=-1"]) == 2
