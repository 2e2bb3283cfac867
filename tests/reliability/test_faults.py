"""Injected numerical faults are caught: NaN in a gradient, a reward, a diverging inner loop,
rejected TRPO steps, and a simulator fed non-finite actions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from metarl.agents import evaluation  # imported before any test patches make_simulator
from metarl.agents import trainer as rl_trainer
from metarl.config import read_toml, to_dict
from metarl.errors import NonFiniteError
from metarl.experiment import resolve_config
from metarl.fewshot.experiment import FewShotTrainer
from metarl.runs import RunDir
from metarl.training import REJECTED_STREAK_WARNING, train

from .conftest import NAVIGATION, SINUSOID, TINY_NAVIGATION, TINY_SINUSOID, run_cli


class NaNGradientAt:
    """A trainer whose model's first parameter gets a NaN gradient at chosen iterations."""

    def __init__(self, trainer: Any, iterations: set[int], model: torch.nn.Module) -> None:
        self.trainer, self.iterations, self.model = trainer, iterations, model

    def train_iteration(self, iteration: int, rng: np.random.Generator) -> dict[str, float]:
        first = next(self.model.parameters())
        hook = None
        if iteration in self.iterations:
            hook = first.register_hook(lambda g: torch.full_like(g, math.nan))
        try:
            return self.trainer.train_iteration(iteration, rng)
        finally:
            if hook is not None:
                hook.remove()

    def state_dict(self) -> dict[str, Any]:
        return self.trainer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state)


def sinusoid_run(tmp_path: Path, *overrides: str) -> tuple[RunDir, FewShotTrainer, Any]:
    overrides = ("learner.meta_batch_size=4", *overrides)
    _, config = resolve_config(read_toml(Path(SINUSOID)), list(overrides))
    return RunDir.create(tmp_path / "run", to_dict(config)), FewShotTrainer(config), config


def test_nan_gradient_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    run, trainer, _ = sinusoid_run(tmp_path)
    faulty = NaNGradientAt(
        trainer, {4}, trainer.learner.model
    )  # the fifth iteration (iterations count from 1)
    with pytest.raises(NonFiniteError) as caught:
        train(run, faulty, seed=0, iterations=8, log_every=1, checkpoint_every=2)
    message = str(caught.value)
    assert "non-finite gradient" in message and "iteration 5" in message
    assert f"{run.checkpoint_path} (iteration 4) is kept" in message
    checkpoint = run.load_checkpoint()
    assert checkpoint["iteration"] == 4
    assert all(bool(t.isfinite().all()) for t in checkpoint["trainer"]["model"].values())
    assert [row["iteration"] for row in run.read_metrics()] == [1, 2, 3, 4]
    assert not (run.path / "lock").exists()


def test_skip_restores_the_state_from_before_the_faulty_iteration(tmp_path, capsys):
    run, trainer, _ = sinusoid_run(tmp_path)
    reference_run, reference, _ = sinusoid_run(tmp_path / "reference")
    faulty = NaNGradientAt(trainer, {1}, trainer.learner.model)
    train(run, faulty, seed=0, iterations=2, log_every=1, checkpoint_every=5, on_nonfinite="skip")
    train(reference_run, reference, seed=0, iterations=1, log_every=1, checkpoint_every=5)
    assert "iteration 2; skipped" in capsys.readouterr().err
    skipped, one_step = trainer.state_dict()["model"], reference.state_dict()["model"]
    assert all(torch.equal(skipped[name], one_step[name]) for name in one_step)
    assert [set(row) for row in run.read_metrics()][1] == {"iteration", "time/wall_s"}


def test_a_diverging_inner_loop_stops_the_cli_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", SINUSOID, "--iterations", "5", "--run-dir", str(run_dir), *TINY_SINUSOID]
    assert run_cli([*argv, "--set", "learner.inner_lr=50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("metarl: error: diverged loss meta_train/loss")
    assert "iteration 1" in err and "no checkpoint was written yet" in err


class NaNRewardSimulator:
    """Wraps a simulator; the reward of environment 0 is NaN at its third step."""

    def __init__(self, simulator: Any) -> None:
        self.simulator, self.steps = simulator, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.simulator, name)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        obs, reward, terminated, truncated = self.simulator.step(actions)
        self.steps += 1
        if self.steps == 3:
            reward = reward.copy()
            reward[0] = math.nan
        return obs, reward, terminated, truncated


def test_nan_reward_stops_an_rl_run_naming_it(tmp_path, capsys, monkeypatch):
    make = rl_trainer.make_simulator
    monkeypatch.setattr(
        rl_trainer, "make_simulator", lambda *args, **kw: NaNRewardSimulator(make(*args, **kw))
    )
    run_dir = tmp_path / "run"
    argv = ["train", NAVIGATION, "--iterations", "2", "--run-dir", str(run_dir)]
    assert run_cli([*argv, *TINY_NAVIGATION]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "non-finite reward from the simulator" in err
    assert "adaptation step 0, task 0" in err and "iteration 1" in err
    assert not (run_dir / "checkpoint.pt").exists()


def test_rejected_trpo_steps_are_counted_and_a_streak_is_a_warning(tmp_path, capsys):
    run_dir = tmp_path / "run"
    iterations = REJECTED_STREAK_WARNING
    argv = ["train", NAVIGATION, "--iterations", str(iterations), "--run-dir", str(run_dir)]
    extra = [
        "--set",
        "trpo.max_kl=1e-30",
        "--set",
        "trpo.ls_max_steps=1",
        "--set",
        "trpo.cg_iters=1",
    ]
    assert run_cli([*argv, *TINY_NAVIGATION, *extra, "--set", "run.log_every=1"]) == 0
    rows = RunDir.open(run_dir).read_metrics()
    assert [row["meta_train/rejected_steps"] for row in rows] == list(range(1, iterations + 1))
    assert f"rejected the last {iterations} outer steps" in capsys.readouterr().err


def test_evaluation_counts_diverged_tasks_per_step_and_warns(tmp_path, capsys, trained_sinusoid):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("config.toml", "checkpoint.pt"):
        (run_dir / name).write_bytes((trained_sinusoid / name).read_bytes())
    config = (run_dir / "config.toml").read_text()
    (run_dir / "config.toml").write_text(config.replace("inner_lr = 0.01", "inner_lr = 30.0"))
    assert run_cli(["evaluate", str(run_dir), "--steps", "6", "--tasks", "6"]) == 0
    result = json.loads((run_dir / "evaluation.json").read_text())
    diverged = result["diverged"]
    assert diverged[0] == 0 and diverged[-1] > 0 and len(diverged) == 7
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    first = next(step for step, count in enumerate(diverged) if count)
    assert warnings[0].startswith(f"metarl: warning: {diverged[first]} of 6 tasks diverged after ")
    assert f"after {first} adaptation steps" in warnings[0]
    assert len(warnings) == sum(1 for count in diverged if count)
    assert all(math.isfinite(m) for m in result["median"][:first])


def test_rl_evaluation_counts_a_task_whose_rollouts_turn_nan_as_diverged(monkeypatch):
    """The first task's simulator gives a NaN reward during adaptation step 1: that task is NaN
    from step 1 on and counted as diverged; the others are unaffected; nothing raises."""
    _, config = resolve_config(
        read_toml(Path(NAVIGATION)), [a for a in TINY_NAVIGATION if a != "--set"]
    )
    policy = rl_trainer.build_policy(config, evaluation.evaluation_tasks(config, "train", 1))
    tasks = evaluation.evaluation_tasks(config, "test", 3)
    clean = evaluation.adaptation_curves(config, policy, tasks, 2, 2, seed=0).returns
    make, made = evaluation.make_simulator, []

    def first_one_breaks(*args: Any, **kwargs: Any) -> Any:
        simulator = make(*args, **kwargs)
        made.append(simulator)
        if len(made) > 1:
            return simulator
        broken = NaNRewardSimulator(simulator)
        broken.steps = -config.env.horizon  # the NaN lands in the second round of rollouts
        return broken

    monkeypatch.setattr(evaluation, "make_simulator", first_one_breaks)
    curves = evaluation.adaptation_curves(config, policy, tasks, 2, 2, seed=0).returns
    assert curves[0, 0] == clean[0, 0] and np.isnan(curves[0, 1:]).all()
    np.testing.assert_array_equal(curves[1:], clean[1:])


def test_nan_gradient_under_trpo_stops_an_rl_run_naming_it(tmp_path):
    """A NaN meta-gradient would only make TRPO's line search reject the step; its norm is
    logged, so the run stops naming it."""
    overrides = [a for a in TINY_NAVIGATION if a != "--set"]
    _, config = resolve_config(read_toml(Path(NAVIGATION)), overrides)
    trainer = rl_trainer.MetaRLTrainer(config)
    run = RunDir.create(tmp_path / "run", to_dict(config))
    faulty = NaNGradientAt(trainer, {1}, trainer.policy)
    with pytest.raises(NonFiniteError, match=r"non-finite gradient meta_train/grad_norm = nan"):
        train(run, faulty, seed=0, iterations=3, log_every=1, checkpoint_every=1)
    assert run.load_checkpoint()["iteration"] == 1
