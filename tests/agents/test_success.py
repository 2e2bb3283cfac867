"""Success rates, for any family whose env reports ``info["success"]``: the simulator keeps
"succeeded at some step of the episode", the sampler's episodes carry it, training logs it, and
evaluation reports it (with CIs) next to the return; families without it report none."""

import json
from pathlib import Path

import numpy as np
import pytest

from metarl.cli import main
from metarl.envs import BatchedSimulator, Task

PLUGIN = '''
import gymnasium
import numpy as np
from metarl.envs import TaskEnvMixin, Uniform, register_family


class LineGoalEnv(TaskEnvMixin, gymnasium.Env):
    """A point on a line moving by 0.1 * action; success while within 0.1 of the goal."""

    family = "LineGoal"
    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed, options=options)
        self.x = 0.0
        return np.array([self.x]), {}

    def step(self, action):
        self.x += 0.1 * float(np.clip(action[0], -1, 1))
        distance = abs(self.x - float(self.task_params["goal"]))
        return np.array([self.x]), -distance, False, False, {"success": distance < 0.1}


register_family("LineGoal", LineGoalEnv, {"goal": Uniform(-0.5, 0.5)}, horizon=10)
'''

CONFIG = """kind = "rl"
[run]
name = "line_goal"
iterations = 2
[env]
family = "LineGoal"
horizon = 10
threads = 1
plugins = ["line_goal.py"]
[policy]
hidden = [8]
[agent]
meta_batch_size = 2
rollouts = 3
[eval]
tasks = 3
steps = 1
"""


@pytest.fixture
def line_goal(tmp_path: Path, clean_registry) -> Path:
    """The LineGoal family registered from a plugin file; its config's path."""
    (tmp_path / "line_goal.py").write_text(PLUGIN)
    config = tmp_path / "line_goal.toml"
    config.write_text(CONFIG)
    from metarl.envs.plugins import load_plugin

    load_plugin(str(tmp_path / "line_goal.py"))
    return config


def test_simulator_success_is_any_step_of_the_episode(line_goal: Path) -> None:
    tasks = [Task("LineGoal", {"goal": 0.3}), Task("LineGoal", {"goal": -0.3})]
    sim = BatchedSimulator("LineGoal", tasks, envs_per_task=1, horizon=10)
    sim.reset(seed=0)
    assert sim.success is None  # nothing reported before the first step
    for _ in range(3):  # env 0 reaches 0.3 (success), env 1 goes the wrong way
        sim.step(np.ones((2, 1)))
    assert sim.success.tolist() == [True, False]
    for _ in range(3):  # env 0 leaves the goal: its episode still succeeded
        sim.step(np.ones((2, 1)))
    assert sim.success.tolist() == [True, False]
    sim.reset()
    assert sim.success.tolist() == [False, False]


def test_families_without_success_report_none() -> None:
    sim = BatchedSimulator("Navigation2D", [Task("Navigation2D", {"goal": [0.1, 0.1]})], 2)
    sim.reset(seed=0)
    sim.step(np.zeros((2, 2)))
    assert sim.success is None


def test_training_and_evaluation_report_success_rates(line_goal: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", str(line_goal), "--run-dir", str(run)]) == 0
    metrics = [json.loads(line) for line in open(run / "metrics.jsonl")]
    for row in metrics:
        for tag in ("meta_train/success_pre", "adapt/success_step0", "adapt/success_step1"):
            assert 0.0 <= row[tag] <= 1.0
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    for curve in (result, result["baselines"]["random_init"]):
        rate = curve["success_rate"]
        assert len(rate["mean"]) == len(rate["ci95"]) == 2 == len(curve["mean"])
        assert all(0.0 <= m <= 1.0 for m in rate["mean"]) and all(c >= 0 for c in rate["ci95"])
        # each task's rate is a fraction of its rollouts; the mean is over the 3 tasks
        episodes = 3 * result["rollouts_per_step"]
        assert all(abs(m * episodes - round(m * episodes)) < 1e-5 for m in rate["mean"])
    assert max(result["success_rate"]["mean"]) > 0  # goals within reach of random actions
    assert (run / "success.png").is_file()


def test_evaluation_of_a_family_without_success_has_no_success_rate(tmp_path: Path) -> None:
    run = tmp_path / "run"
    nav = str(Path(__file__).resolve().parents[2] / "experiments" / "navigation2d_maml.toml")
    tiny = ["--set", "agent.meta_batch_size=2", "--set", "agent.rollouts=2"]
    tiny += ["--set", "env.horizon=5", "--set", "policy.hidden=[8]"]
    assert main(["train", nav, "--iterations", "1", "--run-dir", str(run), *tiny]) == 0
    assert "adapt/success_step0" not in json.loads(open(run / "metrics.jsonl").readline())
    assert main(["evaluate", str(run), "--steps", "1", "--tasks", "2", "--rollouts", "2"]) == 0
    assert "success_rate" not in json.loads((run / "evaluation.json").read_text())
    assert not (run / "success.png").exists()


def test_rl2_logs_and_evaluates_success_per_episode(line_goal: Path, tmp_path: Path) -> None:
    run = tmp_path / "rl2"
    rl2 = ["--set", "agent.algorithm=rl2", "--set", "rl2.episodes_per_trial=2"]
    rl2 += ["--set", "rl2.hidden=8", "--set", "rl2.epochs=1"]
    assert main(["train", str(line_goal), "--iterations", "1", "--run-dir", str(run), *rl2]) == 0
    row = json.loads(open(run / "metrics.jsonl").readline())
    assert 0.0 <= row["adapt/success_episode1"] <= 1.0 and "adapt/success_episode2" in row
    assert main(["evaluate", str(run), "--steps", "1", "--rollouts", "2"]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    rate = result["success_rate"]
    assert len(rate["mean"]) == len(result["mean"]) == 2
    assert all(0.0 <= m <= 1.0 for m in rate["mean"])
    assert (run / "success.png").is_file()
