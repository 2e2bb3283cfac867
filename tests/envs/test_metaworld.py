"""Meta-World ML1/ML10 families: registration and splits (any venv), the one-line error without
Meta-World, and, in the Meta-World venv (``make test-metaworld``), the envs themselves."""

import importlib.util
import json
import pickle
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from metarl.agents.config import RLExperiment
from metarl.cli import main
from metarl.config import from_dict, read_toml
from metarl.envs import BatchedSimulator, Task, get_family, make_task_distribution, validate_task
from metarl.envs.metaworld import ML10_TEST, ML10_TRAIN, V3_SKILLS, metaworld_task
from metarl.errors import TaskError

HAS_METAWORLD = importlib.util.find_spec("metaworld") is not None
needs_metaworld = pytest.mark.skipif(
    not HAS_METAWORLD, reason="metaworld not installed (make setup-metaworld; make test-metaworld)"
)
REPO = Path(__file__).resolve().parents[2]
REACH = "MetaWorldML1_reach_v3"


def test_every_v3_skill_has_an_ml1_family_and_ml10_its_split() -> None:
    assert len(V3_SKILLS) == 50 and set(ML10_TRAIN + ML10_TEST) <= set(V3_SKILLS)
    for skill in V3_SKILLS:
        assert get_family("MetaWorldML1_" + skill.replace("-", "_")).max_episode_steps == 500
    ml10 = make_task_distribution("MetaWorldML10", seed=0)
    train, test = ml10.split("train"), ml10.split("test")
    assert len(train) == 500 and len(test) == 250
    train_skills = {int(task.params["skill"]) for task in train}
    test_skills = {int(task.params["skill"]) for task in test}
    assert train_skills == set(range(10)) and test_skills == set(range(10, 15))
    # the first tasks of a split cycle through its skills (evaluate --tasks 5 sees all five)
    assert [int(task.params["skill"]) for task in test[:5]] == [10, 11, 12, 13, 14]
    assert not {int(task.params["skill"]) for task in ml10.sample(200)} & test_skills


def test_ml1_train_and_test_goals_are_disjoint_and_round_trip_through_json() -> None:
    reach = make_task_distribution(REACH, seed=0)
    train, test = reach.split("train"), reach.split("test")
    assert len(train) == len(set(train)) == 50 and len(test) == len(set(test)) == 50
    assert not set(train) & set(test)
    assert {task.params["test"] for task in test} == {1.0}
    assert set(reach.sample(100)) <= set(train)
    for task in (train[7], test[49]):
        again = Task.from_json(task.to_json())
        assert again == task
        validate_task(again, REACH)
    with pytest.raises(TaskError, match="not one of the family's 100 tasks"):
        validate_task(Task(REACH, {**test[0].params, "variation": 50.0}), REACH)


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("metaworld_*.toml")))
def test_configs_are_valid_and_name_registered_families(path: Path) -> None:
    config = from_dict(RLExperiment, read_toml(path))
    family = get_family(config.env.family)
    assert config.env.horizon == family.max_episode_steps == 500
    assert config.eval.tasks <= len(make_task_distribution(family.name, seed=0).split("test"))


@pytest.mark.skipif(HAS_METAWORLD, reason="checks the error shown without metaworld")
def test_without_metaworld_the_family_names_the_install_command(tmp_path: Path, capsys) -> None:
    with pytest.raises(TaskError, match="make setup-metaworld"):
        gymnasium.make(f"metarl/{REACH}-v0")
    config = str(REPO / "experiments" / "metaworld_ml1_reach_maml.toml")
    capsys.readouterr()
    assert main(["train", config, "--iterations", "1", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make setup-metaworld" in err


@needs_metaworld
def test_v3_skill_lists_are_metaworlds() -> None:
    import metaworld
    from metaworld import env_dict

    assert V3_SKILLS == tuple(metaworld.ML1.ENV_NAMES)
    assert ML10_TRAIN == tuple(env_dict.ML10_V3["train"])
    assert ML10_TEST == tuple(env_dict.ML10_V3["test"])


@needs_metaworld
def test_tasks_recreate_metaworlds_task_objects() -> None:
    import metaworld

    bench = metaworld.ML1("reach-v3", seed=0)
    reach = make_task_distribution(REACH, seed=0)
    for split, theirs in (("train", bench.train_tasks), ("test", bench.test_tasks)):
        for index in (0, 31):
            skill, ours, env_class = metaworld_task(reach.split(split)[index])
            assert skill == "reach-v3" and env_class is bench.train_classes["reach-v3"]
            expected = pickle.loads(theirs[index].data)["rand_vec"]
            np.testing.assert_array_equal(pickle.loads(ours.data)["rand_vec"], expected)


@needs_metaworld
@pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning")
def test_env_checker_passes_on_a_train_and_a_held_out_skill() -> None:
    env = gymnasium.make(f"metarl/{REACH}-v0")
    assert env.spec is not None and env.spec.max_episode_steps == 500
    check_env(env.unwrapped, skip_render_check=True)
    ml10 = make_task_distribution("MetaWorldML10", seed=0)
    env = gymnasium.make("metarl/MetaWorldML10-v0")
    for task in (ml10.split("train")[2], ml10.split("test")[3]):  # pick-place, sweep-into
        env.unwrapped.set_task(task)
        check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=0)
        assert obs.shape == (39,) and not obs[-3:].any()  # the goal is hidden in ML
        _, reward, _, _, info = env.step(env.action_space.sample())
        assert 0.0 <= reward <= 10.0 and info["success"] in (0.0, 1.0)


@needs_metaworld
def test_batched_simulator_agrees_with_the_single_env_step_by_step() -> None:
    tasks = make_task_distribution(REACH, seed=0).split("test")[:2]
    sim = BatchedSimulator(REACH, tasks, envs_per_task=2, seed=0, horizon=40)
    assert sim.backend == "gym"
    actions = np.random.default_rng(0).uniform(-1, 1, size=(40, sim.num_envs, 4))
    batch_obs = [sim.reset(seed=3)]
    batch_rewards = []
    for t in range(40):
        obs, reward, _, truncated = sim.step(actions[t])
        batch_obs.append(obs)
        batch_rewards.append(reward)
    assert truncated.all()
    for i in range(sim.num_envs):
        env = gymnasium.make(f"metarl/{REACH}-v0")
        obs, _ = env.reset(seed=3 + i, options={"task": tasks[i // 2]})
        np.testing.assert_array_equal(obs, batch_obs[0][i])
        succeeded = False
        for t in range(40):
            obs, reward, _, _, info = env.step(actions[t, i])
            np.testing.assert_array_equal(obs, batch_obs[t + 1][i])
            assert reward == batch_rewards[t][i]
            succeeded |= bool(info["success"])
        assert sim.success[i] == succeeded


@needs_metaworld
def test_two_iterations_of_maml_on_ml1_reach_through_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = str(REPO / "experiments" / "metaworld_ml1_reach_maml.toml")
    tiny = ["agent.meta_batch_size=2", "agent.rollouts=2", "env.horizon=20", "policy.hidden=[8]"]
    tiny += ["env.threads=1"]
    args = [arg for setting in tiny for arg in ("--set", setting)]
    assert main(["train", config, "--iterations", "2", "--run-dir", str(run), *args]) == 0
    metrics = [json.loads(line) for line in open(run / "metrics.jsonl")]
    assert [row["iteration"] for row in metrics] == [1, 2]
    assert all(0.0 <= row["adapt/success_step1"] <= 1.0 for row in metrics)
    assert main(["evaluate", str(run), "--tasks", "2", "--rollouts", "2"]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    assert result["family"] == REACH and len(result["success_rate"]["mean"]) == 2
    assert all(json.loads(task)["params"]["test"] == 1.0 for task in result["tasks"])
