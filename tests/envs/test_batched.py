"""The batched simulator against the Gymnasium envs it stands for, and its episode bookkeeping."""

import gymnasium
import numpy as np
import pytest

from metarl.envs import BatchedSimulator, Task, make_task_distribution
from metarl.errors import TaskError


def _gym_envs(sim: BatchedSimulator, family: str, tasks: list[Task], seed: int) -> tuple:
    """One Gymnasium env per simulator env, reset per the seeding contract (seed + i)."""
    envs = [
        gymnasium.make(f"metarl/{family}-v0", max_episode_steps=sim.horizon)
        for _ in range(sim.num_envs)
    ]
    per_task = sim.num_envs // len(tasks)
    obs = [
        env.reset(seed=seed + i, options={"task": tasks[i // per_task]})[0]
        for i, env in enumerate(envs)
    ]
    return envs, np.array(obs)


@pytest.mark.parametrize(
    ("family", "steps", "dtype", "backend"),
    [
        ("Navigation2D", 30, np.float64, None),
        ("HalfCheetahVel", 30, np.float32, None),  # the sampler's actions are float32
        ("AntGoal", 30, np.float64, None),
        ("HopperParams", 40, np.float32, None),
        # The generic MuJoCo backend and the Gymnasium fallback on the same families.
        ("Navigation2D", 30, np.float64, "gym"),
        ("HalfCheetahVel", 30, np.float32, "generic_mujoco"),
        ("HalfCheetahVel", 30, np.float32, "gym"),
        ("AntGoal", 30, np.float64, "generic_mujoco"),
        ("HopperParams", 40, np.float32, "generic_mujoco"),
        ("HopperParams", 40, np.float32, "gym"),
    ],
)
def test_step_by_step_equal_to_the_gymnasium_env(
    family: str, steps: int, dtype: type, backend: str | None
) -> None:
    tasks = make_task_distribution(family, seed=0).split("train")[:3]
    sim = BatchedSimulator(family, tasks, envs_per_task=2, horizon=steps - 5, backend=backend)
    assert sim.backend == backend or backend is None
    obs = sim.reset(seed=11)
    envs, expected = _gym_envs(sim, family, tasks, seed=11)
    np.testing.assert_allclose(obs, expected, rtol=0, atol=1e-8)
    rng = np.random.default_rng(0)
    done = np.zeros(sim.num_envs, dtype=bool)
    saw = {"terminated": False, "contact": False}
    for _ in range(steps):
        shape = (sim.num_envs, sim.action_dim)
        actions = rng.uniform(sim.action_low, sim.action_high, shape).astype(dtype)
        obs, rewards, terminated, truncated = sim.step(actions)
        for i, env in enumerate(envs):
            if done[i]:  # the simulator keeps a done env as it was, reward 0
                assert rewards[i] == 0.0 and (terminated[i] or truncated[i])
                continue
            env_obs, reward, env_terminated, env_truncated, _ = env.step(actions[i])
            np.testing.assert_allclose(obs[i], env_obs, rtol=0, atol=1e-8)
            assert rewards[i] == pytest.approx(reward, rel=0, abs=1e-8)
            assert (terminated[i], truncated[i]) == (env_terminated, env_truncated)
            done[i] = env_terminated or env_truncated
        saw["terminated"] |= terminated.any()
        if family.startswith("Ant"):  # the last 78 numbers are the clipped contact forces
            saw["contact"] |= np.abs(obs[:, -78:]).max() > 0
    assert done.all()
    if family == "HopperParams":
        assert saw["terminated"], "the test should cover termination"
    if family == "AntGoal":
        assert saw["contact"], "the test should cover contact forces"


def test_reset_without_seed_continues_each_env_generator() -> None:
    tasks = make_task_distribution("HalfCheetahVel", seed=0).split("train")[:2]
    sim = BatchedSimulator("HalfCheetahVel", tasks, envs_per_task=2, seed=4)
    first = sim.reset()
    np.testing.assert_array_equal(first, sim.reset(seed=4))
    second = sim.reset()
    envs, _ = _gym_envs(sim, "HalfCheetahVel", tasks, seed=4)
    np.testing.assert_array_equal(second, np.array([env.reset()[0] for env in envs]))
    assert not np.array_equal(first, second)


def test_done_envs_stay_done_until_reset() -> None:
    goals = [Task("Navigation2D", {"goal": goal}) for goal in ([0.05, 0.05], [0.4, 0.4])]
    sim = BatchedSimulator("Navigation2D", goals, envs_per_task=2, horizon=3)
    sim.reset(seed=0)
    towards = np.full((4, 2), 0.05)
    obs, rewards, terminated, truncated = sim.step(towards)
    assert terminated.tolist() == [True, True, False, False] and not truncated.any()
    obs2, rewards2, terminated2, truncated2 = sim.step(towards)
    np.testing.assert_array_equal(obs2[:2], obs[:2])
    assert rewards2[:2].tolist() == [0.0, 0.0] and (rewards2[2:] < 0).all()
    assert terminated2.tolist() == [True, True, False, False] and not truncated2.any()
    _, _, terminated3, truncated3 = sim.step(towards)  # the horizon: the others truncate
    assert truncated3.tolist() == [False, False, True, True] and terminated3[:2].all()
    obs4, rewards4, terminated4, truncated4 = sim.step(towards)
    assert not rewards4.any() and (terminated4 | truncated4).all()
    assert sim.reset().tolist() == [[0.0, 0.0]] * 4
    _, _, terminated5, truncated5 = sim.step(np.zeros((4, 2)))
    assert not (terminated5 | truncated5).any()


def test_truncation_at_the_default_horizon() -> None:
    tasks = make_task_distribution("HalfCheetahDir", seed=0).split("train")
    sim = BatchedSimulator("HalfCheetahDir", tasks, envs_per_task=1)
    assert sim.horizon == 200 and sim.num_envs == 2
    assert (sim.observation_dim, sim.action_dim) == (17, 6)
    assert sim.action_low.tolist() == [-1.0] * 6 and sim.action_high.tolist() == [1.0] * 6
    sim.reset(seed=0)
    for t in range(1, 201):
        _, rewards, terminated, truncated = sim.step(np.zeros((2, 6)))
        assert truncated.all() == (t == 200) and not terminated.any()
    _, rewards, _, truncated = sim.step(np.zeros((2, 6)))
    assert truncated.all() and not rewards.any()


def test_invalid_arguments_raise() -> None:
    velocity = Task("HalfCheetahVel", {"velocity": 1.0})
    with pytest.raises(TaskError, match="unknown task family"):
        BatchedSimulator("Swimmer", [velocity], 1)
    with pytest.raises(TaskError, match="HalfCheetahDir"):
        BatchedSimulator("HalfCheetahDir", [velocity], 1)
    with pytest.raises(TaskError, match="outside"):
        BatchedSimulator("HalfCheetahVel", [Task("HalfCheetahVel", {"velocity": 9.0})], 1)
    with pytest.raises(TaskError):
        BatchedSimulator("HalfCheetahVel", [], 1)
    with pytest.raises(TaskError):
        BatchedSimulator("HalfCheetahVel", [velocity], 0)
    sim = BatchedSimulator("HalfCheetahVel", [velocity], 2)
    with pytest.raises(RuntimeError, match="reset"):
        sim.step(np.zeros((2, 6)))
    sim.reset()
    with pytest.raises(ValueError, match="shape"):
        sim.step(np.zeros((1, 6)))


def test_thread_count_does_not_change_the_trajectories() -> None:
    tasks = make_task_distribution("HopperParams", seed=0).split("train")[:3]
    runs = []
    for n_threads in (1, 3):
        sim = BatchedSimulator(
            "HopperParams", tasks, 3, horizon=60, n_threads=n_threads, backend="generic_mujoco"
        )
        rng = np.random.default_rng(1)
        steps = [sim.reset(seed=2)]
        for _ in range(60):  # Hopper terminates: later steps run on a subset of the envs
            steps.extend(sim.step(rng.uniform(-1, 1, (sim.num_envs, sim.action_dim))))
        runs.append(steps)
    terminated = runs[1][3::4]  # per step: obs, reward, terminated, truncated
    assert any(f.any() and not f.all() for f in terminated), "the test should cover terminations"
    for one_thread, three_threads in zip(*runs, strict=True):
        np.testing.assert_array_equal(one_thread, three_threads)


def test_an_env_error_on_a_stepping_thread_reaches_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks = make_task_distribution("HalfCheetahVel", seed=0).split("train")[:2]
    sim = BatchedSimulator("HalfCheetahVel", tasks, 2, n_threads=2, backend="generic_mujoco")
    sim.reset(seed=0)
    broken = sim._envs.envs[3]

    def step(action: np.ndarray) -> None:
        raise RuntimeError("env 3 broke")

    monkeypatch.setattr(broken, "step", step)
    with pytest.raises(RuntimeError, match="env 3 broke"):
        sim.step(np.zeros((sim.num_envs, sim.action_dim)))
