"""A user family from a file outside the package, end to end through the CLI; chosen evaluation
tasks; and the one-line errors of bad plugins and task files."""

import json
import shutil
from pathlib import Path

import pytest

from metarl.cli import main
from metarl.envs import families

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "experiments" / "plugins"
TINY = [
    "--set",
    "agent.meta_batch_size=2",
    "--set",
    "agent.rollouts=2",
    "--set",
    "env.horizon=10",
    "--set",
    "policy.hidden=[8]",
    "--set",
    "env.threads=1",
]


def _user_config(tmp_path: Path) -> Path:
    """The worked example copied outside the package: config and plugin side by side."""
    folder = tmp_path / "my_project"
    folder.mkdir()
    shutil.copy(EXAMPLE / "reacher_goal.py", folder)
    shutil.copy(EXAMPLE / "reacher_goal_maml.toml", folder)
    return folder / "reacher_goal_maml.toml"


def test_user_family_trains_resumes_and_evaluates_with_the_plain_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry, capsys
) -> None:
    config = _user_config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the plugin is found next to the config, not in the cwd
    run = tmp_path / "run"
    assert main(["train", str(config), "--iterations", "2", "--run-dir", str(run), *TINY]) == 0
    stored = (run / "config.toml").read_text()
    assert str((config.parent / "reacher_goal.py").resolve()) in stored
    clean_registry()
    assert "ReacherGoal" not in families.FAMILIES
    assert main(["train", "--resume", str(run), "--iterations", "3"]) == 0
    assert [json.loads(line)["iteration"] for line in open(run / "metrics.jsonl")] == [1, 2, 3]
    clean_registry()
    tasks_file = tmp_path / "goals.jsonl"
    goals = [[0.1, 0.0], [0.0, -0.15]]
    tasks_file.write_text(
        "\n".join(json.dumps({"family": "ReacherGoal", "params": {"goal": goal}}) for goal in goals)
        + "\n"
    )
    args = ["evaluate", str(run), "--steps", "1", "--rollouts", "2"]
    assert main([*args, "--tasks-file", str(tasks_file)]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    assert [json.loads(task)["params"]["goal"] for task in result["tasks"]] == goals
    assert result["task_source"] == {"tasks_file": str(tasks_file), "out_of_range_tasks": []}
    assert len(result["mean"]) == 2


def test_task_range_out_of_the_family_only_when_asked(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    nav = str(REPO / "experiments" / "navigation2d_maml.toml")
    assert main(["train", nav, "--iterations", "1", "--run-dir", str(run), *TINY]) == 0
    args = ["evaluate", str(run), "--steps", "1", "--rollouts", "2", "--tasks", "3"]
    capsys.readouterr()
    assert main([*args, "--task-range", "goal=0.6,0.8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-out-of-range" in err
    assert not (run / "evaluation.json").exists()
    assert main([*args, "--task-range", "velocity=0,1"]) == 2
    assert (
        "has no range parameter 'velocity'; its parameters are ['goal']" in capsys.readouterr().err
    )
    assert main([*args, "--task-range", "goal=0.6,0.8", "--allow-out-of-range"]) == 0
    assert "are outside Navigation2D's ranges" in capsys.readouterr().out
    result = json.loads((run / "evaluation.json").read_text())
    goals = [json.loads(task)["params"]["goal"] for task in result["tasks"]]
    assert all(0.6 <= value <= 0.8 for goal in goals for value in goal)
    assert result["task_source"]["task_range"] == {"goal": [0.6, 0.8]}
    assert result["task_source"]["out_of_range_tasks"] == [0, 1, 2]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"family": "Navigation2D", "params": {"goal": [0.1, 0.1]}}', "{oops"],
            ":2: task is not",
        ),
        (['{"family": "Navigation2D", "params": {"velocity": 1.0}}'], ":1: Navigation2D task "),
        (['{"family": "HalfCheetahVel", "params": {"velocity": 1.0}}'], ":1: task of family"),
        (['{"family": "Navigation2D", "params": {"goal": [0.9, 0.0]}}'], "--allow-out-of-range"),
    ],
)
def test_bad_task_file_is_one_line_naming_the_line(
    tmp_path: Path, capsys, lines: list[str], message: str
) -> None:
    run = tmp_path / "run"
    nav = str(REPO / "experiments" / "navigation2d_maml.toml")
    assert main(["train", nav, "--iterations", "1", "--run-dir", str(run), *TINY]) == 0
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--tasks-file", str(tasks_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"metarl: error: {tasks_file}:") and err.count("\n") == 1
    assert message in err
    assert not (run / "evaluation.json").exists()


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        ("raise RuntimeError('boom')\n", "failed to import: RuntimeError: boom (.*bad.py:1)"),
        (
            "from metarl.envs import Uniform, register_family\n"
            "from metarl.envs.locomotion import HalfCheetahVelEnv\n"
            "register_family('HalfCheetahVel', HalfCheetahVelEnv, {'v': Uniform(0, 1)}, 10)\n",
            "'HalfCheetahVel' is already registered",
        ),
        (
            "import gymnasium\nfrom metarl.envs import Uniform, register_family\n"
            "class E(gymnasium.Env):\n    pass\n"
            "register_family('NoTask', E, {'v': Uniform(0, 1)}, 10)\n",
            "does not follow the task protocol",
        ),
    ],
)
def test_bad_plugin_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys, clean_registry: None, plugin: str, message: str
) -> None:
    (tmp_path / "bad.py").write_text(plugin)
    config = tmp_path / "config.toml"
    text = (REPO / "experiments" / "navigation2d_maml.toml").read_text()
    config.write_text(text.replace("[env]\n", '[env]\nplugins = ["bad.py"]\n'))
    run = tmp_path / "run"
    assert main(["train", str(config), "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metarl: error: plugin ") and err.count("\n") == 1
    assert pytest.importorskip("re").search(message, err), err
    assert not run.exists()
