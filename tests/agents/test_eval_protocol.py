"""The evaluation protocol: a per-step test-time step-size schedule, the baselines' step size
searched on training tasks, env-step counts and the rollout budget recorded."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from metarl.agents.config import RLExperiment
from metarl.agents.evaluation import adaptation_chunks, adaptation_curves, evaluation_tasks
from metarl.agents.experiment import meta_trained_inner
from metarl.agents.schedule import scheduled
from metarl.agents.trainer import MetaRLTrainer
from metarl.cli import main
from metarl.config import apply_overrides, from_dict, read_toml
from metarl.core import InnerLoop, InnerLoopConfig

CONFIGS = Path(__file__).resolve().parents[2] / "experiments"
TINY = [
    "agent.meta_batch_size=3",
    "agent.rollouts=2",
    "env.horizon=12",
    "policy.hidden=[8]",
    "eval.tasks=3",
]


def test_schedule_takes_its_step_sizes_in_turn_and_reuses_the_last():
    params = {"w": torch.tensor([1.0, -2.0])}
    inner = InnerLoop(params, InnerLoopConfig(steps=1, lr=0.1, first_order=True))
    loop = scheduled(inner, [0.1, 0.05])
    assert loop.config.first_order
    grad = torch.tensor([2.0, -4.0])  # of the loss sum(w**2) at w = [1, -2]

    def loss(p, _):
        return (p["w"] ** 2).sum()

    w = params
    for k, alpha in enumerate([0.1, 0.05, 0.05]):
        expected = w["w"] - alpha * 2 * w["w"]
        w = loop.step(w, loss, None, k)
        torch.testing.assert_close(w["w"], expected)
    torch.testing.assert_close(loop.step(params, loss, None, 0)["w"], params["w"] - 0.1 * grad)
    assert scheduled(inner, []) is inner


def test_eval_schedule_changes_only_the_later_steps():
    raw = apply_overrides(read_toml(CONFIGS / "navigation2d_maml.toml"), TINY)
    config = from_dict(RLExperiment, raw)
    policy = MetaRLTrainer(config).policy
    tasks = evaluation_tasks(config, "test", 3)
    constant = adaptation_curves(config, policy, tasks, 2, 2, seed=1, inner_lr=[0.1]).returns
    schedule = adaptation_curves(config, policy, tasks, 2, 2, seed=1, inner_lr=[0.1, 0.05]).returns
    default = adaptation_curves(config, policy, tasks, 2, 2, seed=1).returns  # agent.inner_lr = 0.1
    np.testing.assert_array_equal(constant, default)
    np.testing.assert_array_equal(constant[:, :2], schedule[:, :2])
    assert not np.array_equal(constant[:, 2], schedule[:, 2])


@pytest.mark.parametrize("given_to", ["train", "evaluate"])
def test_evaluate_searches_the_baseline_step_size_on_training_tasks(tmp_path, given_to):
    run_dir = tmp_path / "maml"
    sets = [arg for item in TINY for arg in ("--set", item)]
    protocol = ["eval.baseline_lr_grid=[0.01, 0.5]", "eval.inner_lr=[0.1, 0.05]"]
    protocol = [arg for item in [*protocol, "eval.lr_search_tasks=2"] for arg in ("--set", item)]
    train = ["train", str(CONFIGS / "navigation2d_maml.toml"), "--iterations", "1"]
    train_sets = [*sets, *protocol] if given_to == "train" else sets
    assert main([*train, "--run-dir", str(run_dir), *train_sets]) == 0
    evaluate = ["evaluate", str(run_dir), "--steps", "1"]
    assert main([*evaluate, *(protocol if given_to == "evaluate" else [])]) == 0
    result = json.loads((run_dir / "evaluation.json").read_text())
    assert result["rollouts_per_step"] == 2  # agent.rollouts: the training budget
    assert result["eval_inner_lr"] == [0.1, 0.05]
    assert result["env_steps"] == 2 * 3 * 2 * 12  # one iteration: support + query rollouts
    search = result["baselines"]["random_init"]["lr_search"]
    assert search["grid"] == [0.01, 0.5] and search["train_tasks"] == 2
    best = int(np.argmax(search["mean_return_after_steps"]))
    assert search["inner_lr"] == search["grid"][best]


def test_evaluate_set_takes_eval_keys_only(tmp_path, capsys):
    run_dir = tmp_path / "maml"
    sets = [arg for item in TINY for arg in ("--set", item)]
    train = ["train", str(CONFIGS / "navigation2d_maml.toml"), "--iterations", "1"]
    assert main([*train, "--run-dir", str(run_dir), *sets]) == 0
    assert main(["evaluate", str(run_dir), "--set", "agent.inner_lr=0.5"]) == 2
    assert "takes [eval] keys only" in capsys.readouterr().err
    assert not (run_dir / "evaluation.json").exists()


def test_evaluation_adapts_with_the_meta_trained_learned_rule():
    overrides = [*TINY, 'agent.inner_rule="learned"', 'agent.outer="ppo"']
    raw = apply_overrides(read_toml(CONFIGS / "navigation2d_maml.toml"), overrides)
    config = from_dict(RLExperiment, raw)
    trainer = MetaRLTrainer(config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a rule that is no longer SGD, as meta-training makes it
        for weight in trainer.adaptation.inner.rule.parameters():
            weight.add_(0.5 * torch.randn(weight.shape, generator=generator))
    tasks = evaluation_tasks(config, "test", 3)
    state = meta_trained_inner(trainer)
    trained = adaptation_curves(config, trainer.policy, tasks, 1, 2, seed=1, inner_state=state)
    fresh = adaptation_curves(config, trainer.policy, tasks, 1, 2, seed=1)  # an untrained rule
    np.testing.assert_array_equal(trained.returns[:, 0], fresh.returns[:, 0])
    assert not np.allclose(trained.returns[:, 1], fresh.returns[:, 1])
    direct = []  # adapting with the trainer's own inner loop gives the same curve
    for _, sampler, task_seed in adaptation_chunks(config, tasks, 2, seed=1):
        result = trainer.adaptation.run(
            sampler, trainer.params, 1, np.random.default_rng(task_seed)
        )
        direct.append([float(e.episode_returns().mean()) for e in result.episodes])
    np.testing.assert_allclose(trained.returns, np.array(direct), rtol=1e-6)
