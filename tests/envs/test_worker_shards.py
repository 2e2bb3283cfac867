"""Envs stepped in shards by worker processes: the same trajectories, errors reach the caller."""

import gymnasium
import numpy as np
import pytest

from metarl.agents.config import RLExperiment
from metarl.config import from_dict
from metarl.envs import BatchedSimulator, Task, TaskEnvMixin, Uniform, register_family
from metarl.envs.worker_shards import EnvWorkerError
from metarl.errors import ConfigError, TaskError

CHEETAH_TASKS = [Task("HalfCheetahVel", {"velocity": v}) for v in (0.5, 1.0, 1.5)]


def _trajectory(sim: BatchedSimulator, steps: int) -> list[np.ndarray]:
    """Two episodes (the second continues the reset generators) under seeded random actions."""
    rng = np.random.default_rng(0)
    recorded = []
    for episode in range(2):
        recorded.append(sim.reset(seed=5) if episode == 0 else sim.reset())
        for _ in range(steps):
            actions = rng.uniform(-1, 1, (sim.num_envs, sim.action_dim))
            recorded.extend(sim.step(actions))
    return recorded


@pytest.mark.parametrize("backend", ["generic_mujoco", "gym"])
def test_shards_reproduce_the_in_process_backend(backend: str) -> None:
    def simulate(workers: int) -> list[np.ndarray]:
        sim = BatchedSimulator(
            "HalfCheetahVel", CHEETAH_TASKS, 3, horizon=8, backend=backend, workers=workers
        )
        return _trajectory(sim, steps=10)  # past the horizon: done envs stay unstepped

    alone = simulate(1)
    for workers in (2, 4):  # 9 envs: shards of 5/4 and 3/2/2/2
        sharded = simulate(workers)
        assert len(sharded) == len(alone)
        for ours, theirs in zip(sharded, alone, strict=True):
            np.testing.assert_array_equal(ours, theirs)
    first_episode_rewards = alone[2]
    assert np.ptp(first_episode_rewards) > 0  # the envs differ, so the check has teeth


class _Faulty(TaskEnvMixin, gymnasium.Env):
    """Fails in ``step`` when its task's ``fail`` is above 0.5; otherwise rewards 1."""

    family = "TestFaulty"
    observation_space = gymnasium.spaces.Box(-1, 1, (1,))
    action_space = gymnasium.spaces.Box(-1, 1, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed, options=options)
        return np.zeros(1), {}

    def step(self, action):
        if self.task_params["fail"] > 0.5:
            raise TaskError("this env's task makes it fail")
        return np.zeros(1), 1.0, False, False, {"success": True}


def test_an_env_error_in_a_worker_reaches_the_caller(clean_registry) -> None:
    register_family("TestFaulty", _Faulty, {"fail": Uniform(0, 1)}, horizon=5)
    fine, faulty = Task("TestFaulty", {"fail": 0.0}), Task("TestFaulty", {"fail": 1.0})
    sim = BatchedSimulator("TestFaulty", [fine, fine, faulty], 1, workers=3)
    sim.reset(seed=0)
    with pytest.raises(TaskError, match="makes it fail") as caught:
        sim.step(np.zeros((3, 1)))
    cause = caught.value.__cause__
    assert isinstance(cause, EnvWorkerError)
    assert "env worker 2 (envs 2-2)" in str(cause) and "in step" in str(cause)

    healthy = BatchedSimulator("TestFaulty", [fine, fine], 1, workers=2)
    healthy.reset(seed=0)
    _, reward, _, _ = healthy.step(np.zeros((2, 1)))
    np.testing.assert_array_equal(reward, [1.0, 1.0])
    np.testing.assert_array_equal(healthy.success, [True, True])


def test_workers_stop_when_the_simulator_is_closed_or_dropped() -> None:
    sim = BatchedSimulator("HalfCheetahVel", CHEETAH_TASKS, 1, backend="gym", workers=2)
    processes = list(sim._envs._processes)
    assert all(process.is_alive() for process in processes)
    sim._envs.close()
    assert not any(process.is_alive() for process in processes)

    dropped = BatchedSimulator("HalfCheetahVel", CHEETAH_TASKS, 1, backend="gym", workers=5)
    processes = list(dropped._envs._processes)
    assert len(processes) == 3  # at most one worker per env
    del dropped
    assert not any(process.is_alive() for process in processes)


def test_bad_worker_counts_are_refused() -> None:
    with pytest.raises(TaskError, match="workers must be at least 1"):
        BatchedSimulator("HalfCheetahVel", CHEETAH_TASKS, 1, workers=0)
    with pytest.raises(ConfigError, match="workers"):
        from_dict(RLExperiment, {"env": {"family": "HalfCheetahVel", "workers": 0}})
    with pytest.raises(ConfigError, match="sampler.workers"):
        from_dict(
            RLExperiment,
            {"env": {"family": "HalfCheetahVel", "workers": 2}, "sampler": {"backend": "ray"}},
        )
