"""Meta-RL through the CLI on tiny Navigation2D runs: exact resume, evaluation with baselines,
the PPO baseline's actor, and config errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from metarl.agents.config import RLExperiment
from metarl.agents.pretrain import PPOPretrainer
from metarl.cli import main
from metarl.config import from_dict, read_toml

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "experiments"
TINY = [
    "--set", "agent.meta_batch_size=3",
    "--set", "agent.rollouts=2",
    "--set", "env.horizon=12",
    "--set", "policy.hidden=[8]",
    "--set", "run.checkpoint_every=2",
    "--set", "eval.tasks=4",
    "--set", "eval.rollouts=2",
]  # fmt: skip


def train(tmp_path: Path, name: str, config: str, iterations: int, *extra: str) -> Path:
    run_dir = tmp_path / name
    args = ["train", str(CONFIGS / config), "--iterations", str(iterations)]
    assert main([*args, "--run-dir", str(run_dir), *TINY, *extra]) == 0
    return run_dir


def without_timings(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if not k.startswith("time/")} for line in lines]


@pytest.mark.parametrize("config", ["navigation2d_maml.toml", "navigation2d_reptile.toml"])
def test_resumed_run_continues_exactly_like_an_uninterrupted_one(tmp_path, config):
    straight = train(tmp_path, "straight", config, 4)
    interrupted = train(tmp_path, "interrupted", config, 2)
    assert main(["train", "--resume", str(interrupted), "--iterations", "4"]) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=False)["trainer"]
    b = torch.load(interrupted / "checkpoint.pt", weights_only=False)["trainer"]
    assert a["env_steps"] == b["env_steps"] > 0
    for name, value in a["policy"].items():
        torch.testing.assert_close(value, b["policy"][name], rtol=0, atol=0)
    assert without_timings(straight) == without_timings(interrupted)
    first = without_timings(straight)[0]
    assert "adapt/return_step1" in first and "time/env_steps" in json.loads(
        (straight / "metrics.jsonl").read_text().splitlines()[0]
    )


def test_evaluate_reports_adaptation_curve_with_baselines(tmp_path):
    run_dir = train(tmp_path, "maml", "navigation2d_maml.toml", 2)
    ppo_dir = train(
        tmp_path, "ppo", "navigation2d_ppo.toml", 1,
        "--set", "pretrain.n_envs=2", "--set", "pretrain.n_steps=48", "--set",
        "pretrain.batch_size=48", "--set", "pretrain.n_epochs=1",
    )  # fmt: skip
    args = ["evaluate", str(run_dir), "--steps", "2", "--baseline", str(ppo_dir)]
    assert main(args) == 0
    first = json.loads((run_dir / "evaluation.json").read_text())
    assert first["metric"] == "return" and first["n_tasks"] == 4
    assert first["adaptation_steps"] == [0, 1, 2]
    assert set(first["baselines"]) == {"random_init", "ppo_pretrained"}
    for curve in [first, *first["baselines"].values()]:
        assert len(curve["mean"]) == len(curve["ci95"]) == 3
        assert all(c > 0 for c in curve["ci95"])
        # Navigation2D returns are minus summed distances: negative, at most 12 steps of sqrt(2).
        assert all(-12 * 2**0.5 <= m < 0 for m in curve["mean"])
    assert (run_dir / "adaptation.png").stat().st_size > 0
    assert main(args) == 0  # same tasks, same seeds: the same numbers
    assert json.loads((run_dir / "evaluation.json").read_text())["mean"] == first["mean"]


def test_ppo_actor_is_the_sb3_policy_mean_and_std():
    raw = read_toml(CONFIGS / "navigation2d_ppo.toml")
    raw["pretrain"] = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
    raw["policy"]["hidden"] = [8, 8]
    trainer = PPOPretrainer(from_dict(RLExperiment, raw))
    trainer.train_iteration(0, np.random.default_rng(0))
    observations = torch.randn(5, 2)
    distribution = trainer.model.policy.get_distribution(observations).distribution
    mean, log_std = trainer.actor()(observations)
    torch.testing.assert_close(mean, distribution.mean)
    torch.testing.assert_close(log_std.exp(), distribution.stddev)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('agent.algorithm="mamll"', "algorithm"),
        ('env.family="HalfCheetahVelocity"', "HalfCheetahVelocity"),
        ("agent.rollout=3", "rollout"),
        ("agent.inner_lr=-1", "inner_lr"),
    ],
)
def test_bad_rl_configs_fail_with_one_line_before_writing(tmp_path, capsys, override, message):
    run_dir = tmp_path / "bad"
    args = ["train", str(CONFIGS / "navigation2d_maml.toml"), "--run-dir", str(run_dir)]
    assert main([*args, "--set", override]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not run_dir.exists()
