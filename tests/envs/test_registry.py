"""register_family, the parameter spaces, and the task protocol."""

import sys

import gymnasium
import numpy as np
import pytest

from metarl.envs import (
    Ball,
    BatchedSimulator,
    LogUniform,
    Task,
    TaskEnvMixin,
    TaskList,
    Uniform,
    make_task_distribution,
    register_family,
    validate_task,
)
from metarl.envs.locomotion import HalfCheetahVelEnv
from metarl.errors import TaskError


def test_ball_is_uniform_in_the_disk() -> None:
    ball = Ball(radius=2.0, center=(1.0, -1.0))
    rng = np.random.default_rng(0)
    points = np.array([ball.sample(rng) for _ in range(20000)])
    distance = np.linalg.norm(points - [1.0, -1.0], axis=1)
    assert distance.max() <= 2.0
    # Uniform in area: P(r < R/2) = 1/4, and the mean point is the center.
    assert np.mean(distance < 1.0) == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(points.mean(axis=0), [1.0, -1.0], atol=0.03)
    ball.check("goal", [2.0, 0.0])
    with pytest.raises(TaskError, match="over 2"):
        ball.check("goal", [3.0, 0.5])
    with pytest.raises(TaskError, match="list of 2"):
        ball.check("goal", 1.0)


def test_log_uniform_has_uniform_logarithm() -> None:
    space = LogUniform(0.1, 10.0)
    rng = np.random.default_rng(1)
    logs = np.log10([space.sample(rng) for _ in range(20000)])
    assert logs.min() >= -1 and logs.max() <= 1
    assert np.mean(logs < 0) == pytest.approx(0.5, abs=0.01)
    assert space.default() == pytest.approx(1.0)
    with pytest.raises(TaskError, match="outside"):
        space.check("scale", 11.0)


class _Spaces:
    """A user-defined space through the protocol: ``1 + 2·u²`` with ``u ~ U[0, 1]``."""

    def sample(self, rng: np.random.Generator) -> float:
        return 1.0 + 2.0 * float(rng.uniform()) ** 2

    def default(self) -> float:
        return 1.0

    def check(self, name: str, value: float) -> None:
        if not 1.0 <= value <= 3.0:
            raise TaskError(f"{name}={value} is not in [1, 3]")

    def describe(self) -> str:
        return "1 + 2 U^2"


class _CheetahVelocity(HalfCheetahVelEnv):
    family = "TestCheetah"


def test_registered_family_with_user_spaces_runs_everywhere(clean_registry: None) -> None:
    register_family("TestCheetah", _CheetahVelocity, {"velocity": _Spaces()}, horizon=20)
    tasks = make_task_distribution("TestCheetah", seed=0).sample(50, np.random.default_rng(0))
    velocities = np.array([task.params["velocity"] for task in tasks])
    assert velocities.min() >= 1 and velocities.max() <= 3
    assert np.mean(velocities < 1.5) > 0.4  # P(1 + 2u² < 1.5) = 1/2: drawn by the user's space
    with pytest.raises(TaskError, match="not in"):
        validate_task(Task("TestCheetah", {"velocity": 3.5}))
    env = gymnasium.make("metarl/TestCheetah-v0")
    assert env.spec.max_episode_steps == 20
    sim = BatchedSimulator("TestCheetah", tasks[:2], envs_per_task=1)
    assert sim.backend == "generic_mujoco"  # a user MujocoEnv gets the generic backend


def test_task_list_family_enumerates_its_tasks(clean_registry: None) -> None:
    listed = TaskList([{"velocity": 0.5}, {"velocity": 1.5}])
    register_family("TestCheetah", _CheetahVelocity, listed, horizon=20)
    distribution = make_task_distribution("TestCheetah", seed=0)
    assert distribution.split("test") == [
        Task("TestCheetah", {"velocity": 0.5}),
        Task("TestCheetah", {"velocity": 1.5}),
    ]
    drawn = {task.params["velocity"] for task in distribution.sample(20)}
    assert drawn == {0.5, 1.5}
    with pytest.raises(TaskError, match="not one of the family's 2 tasks"):
        validate_task(Task("TestCheetah", {"velocity": 1.0}))


def test_registration_errors(clean_registry: None) -> None:
    with pytest.raises(TaskError, match="'HalfCheetahVel' is already registered"):
        register_family("HalfCheetahVel", _CheetahVelocity, {"velocity": Uniform(0, 1)}, 10)
    with pytest.raises(TaskError, match="missing sample, default, check, describe"):
        register_family("TestCheetah", _CheetahVelocity, {"velocity": object()}, 10)

    class NoProtocol(gymnasium.Env):
        pass

    with pytest.raises(TaskError, match="does not follow the task protocol"):
        register_family("TestNoProtocol", NoProtocol, {"velocity": Uniform(0, 1)}, 10)
    assert "TestNoProtocol" not in gymnasium.registry


def test_task_env_mixin_gives_any_env_the_protocol(clean_registry: None) -> None:
    class Bandit(TaskEnvMixin, gymnasium.Env):
        """A one-step env whose reward is the task's ``mean`` minus |action|."""

        family = "TestBandit"
        observation_space = gymnasium.spaces.Box(-1, 1, (1,))
        action_space = gymnasium.spaces.Box(-1, 1, (1,))

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed, options=options)
            return np.zeros(1), {}

        def step(self, action):
            reward = float(self.task_params["mean"]) - abs(float(action[0]))
            return np.zeros(1), reward, True, False, {}

    register_family("TestBandit", Bandit, {"mean": Uniform(0, 1)}, horizon=5)
    tasks = [Task("TestBandit", {"mean": 0.25}), Task("TestBandit", {"mean": 0.75})]
    sim = BatchedSimulator("TestBandit", tasks, envs_per_task=2)
    assert sim.backend == "gym"
    sim.reset(seed=0)
    _, reward, terminated, _ = sim.step(np.full((4, 1), 0.5))
    np.testing.assert_allclose(reward, [-0.25, -0.25, 0.25, 0.25])
    assert terminated.all()


def test_mujoco_3_runs_on_the_generic_backend_and_the_fast_path_says_why_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mujoco

    monkeypatch.delattr(mujoco, "batch", raising=False)
    monkeypatch.setitem(sys.modules, "mujoco.batch", None)  # as on MuJoCo 3.x: no mujoco.batch
    tasks = [Task("HalfCheetahVel", {"velocity": 1.0})]
    sim = BatchedSimulator("HalfCheetahVel", tasks, envs_per_task=2)
    assert sim.backend == "generic_mujoco"
    obs = sim.reset(seed=0)
    env = gymnasium.make("metarl/HalfCheetahVel-v0")
    expected, _ = env.reset(seed=1, options={"task": tasks[0]})
    np.testing.assert_array_equal(obs[1], expected)
    action = np.full((2, 6), 0.5, dtype=np.float32)
    obs, reward, *_ = sim.step(action)
    expected, expected_reward, *_ = env.step(action[1])
    np.testing.assert_array_equal(obs[1], expected)
    assert reward[1] == expected_reward
    with pytest.raises(TaskError, match="the mujoco_batch backend needs MuJoCo >= 4"):
        BatchedSimulator("HalfCheetahVel", tasks, envs_per_task=1, backend="mujoco_batch")


@pytest.mark.parametrize("hook", [True, False])
def test_reacher_example_on_the_generic_backend_equals_gymnasium(
    clean_registry, monkeypatch: pytest.MonkeyPatch, hook: bool
) -> None:
    from pathlib import Path

    from metarl.envs.plugins import load_plugin

    plugin = Path(__file__).resolve().parents[2] / "experiments" / "plugins" / "reacher_goal.py"
    load_plugin(str(plugin))
    env_class = gymnasium.registry["metarl/ReacherGoal-v0"].entry_point
    if not hook:
        monkeypatch.delattr(env_class, "batched_step")
    tasks = make_task_distribution("ReacherGoal", seed=0).split("train")[:2]
    sim = BatchedSimulator("ReacherGoal", tasks, envs_per_task=2, backend="generic_mujoco")
    envs = [gymnasium.make("metarl/ReacherGoal-v0") for _ in range(4)]
    obs = sim.reset(seed=5)
    for i, env in enumerate(envs):
        expected, _ = env.reset(seed=5 + i, options={"task": tasks[i // 2]})
        np.testing.assert_allclose(obs[i], expected, rtol=0, atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = rng.uniform(-1, 1, (4, 2)).astype(np.float32)
        obs, rewards, _, _ = sim.step(actions)
        for i, env in enumerate(envs):
            expected, reward, *_ = env.step(actions[i])
            np.testing.assert_allclose(obs[i], expected, rtol=0, atol=1e-10)
            assert rewards[i] == pytest.approx(reward, rel=0, abs=1e-10)


def test_installed_plugins_register_through_the_entry_point_group(
    tmp_path, monkeypatch: pytest.MonkeyPatch, clean_registry
) -> None:
    import importlib.metadata

    from metarl.envs import families, list_families

    (tmp_path / "my_tasks.py").write_text(
        "from metarl.envs import Uniform, register_family\n"
        "from metarl.envs.locomotion import HalfCheetahVelEnv\n"
        "class E(HalfCheetahVelEnv):\n    family = 'TestInstalled'\n"
        "def register():\n"
        "    register_family('TestInstalled', E, {'velocity': Uniform(0, 1)}, 10, 'installed')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = importlib.metadata.EntryPoint("mine", "my_tasks:register", families.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [entry])
    monkeypatch.setattr(families, "_entry_points_loaded", False)
    assert families.get_family("TestInstalled").description == "installed"
    assert ("TestInstalled", "metarl/TestInstalled-v0", "installed") in list_families()
    monkeypatch.delitem(sys.modules, "my_tasks")
