"""The CueBandit memory test of RL² (``experiments/plugins/cue_bandit.py``): the env pays only on
an episode's first step, and (slow) RL² trained on it earns in episode 2 what it cannot in 1."""

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from metarl.cli import main
from metarl.envs import Task
from metarl.envs.plugins import load_plugin

PLUGINS = Path(__file__).resolve().parents[2] / "experiments" / "plugins"


def test_cue_bandit_pays_only_on_the_first_step_of_each_episode(clean_registry):
    load_plugin(str(PLUGINS / "cue_bandit.py"))
    env = gymnasium.make("metarl/CueBandit-v0")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0, options={"task": Task("CueBandit", {"payoff": -0.5})})
    assert obs.tolist() == [1.0]
    rewards, observations = [], []
    for action in (0.4, 1.0, -1.0, 1.0):
        obs, reward, terminated, truncated, _ = env.step(np.array([action], dtype=np.float32))
        rewards.append(reward)
        observations.append(obs.tolist())
    assert rewards == pytest.approx([-0.2, 0.0, 0.0, 0.0])
    assert observations == [[0.0]] * 4
    assert not terminated and truncated  # the registered horizon: 4 steps
    env.reset()
    assert env.step(np.array([3.0], dtype=np.float32))[1] == pytest.approx(-0.5)  # clipped pull


@pytest.mark.slow
def test_rl2_learns_to_remember_the_previous_episode(tmp_path, clean_registry):
    run = tmp_path / "cue"
    config = PLUGINS / "cue_bandit_rl2.toml"
    assert main(["train", str(config), "--run-dir", str(run), "--set", "env.threads=1"]) == 0
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    (first, second, _), (ci_first, ci_second, _) = result["mean"], result["ci95"]
    # Episode 1 is blind (0 on average); episode 2 earns close to E|payoff| = 0.5, only by memory.
    assert second - ci_second > first + ci_first
    assert second > 0.35
    untrained = result["baselines"]["random_init"]
    assert abs(untrained["mean"][1]) < untrained["ci95"][1] + 0.05
