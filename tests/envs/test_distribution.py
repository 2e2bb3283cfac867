"""Task distributions: seeded, fixed disjoint splits, fresh samples that avoid the test split."""

import numpy as np
import pytest

from metarl.envs import get_family, list_families, make_task_distribution, validate_task
from metarl.errors import TaskError

# One Meta-World ML1 family stands for the 50 (they differ only in the skill).
FAMILIES = [
    name
    for name, _, _ in list_families()
    if not name.startswith("MetaWorldML1_") or name == "MetaWorldML1_reach_v3"
]
CONTINUOUS = [name for name in FAMILIES if not get_family(name).finite]


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_tasks(family: str) -> None:
    first, second = (make_task_distribution(family, seed=3) for _ in range(2))
    for split in ("train", "test"):
        assert first.split(split) == second.split(split)
    assert first.sample(5) == second.sample(5)
    assert first.sample(4, np.random.default_rng(1)) == second.sample(4, np.random.default_rng(1))
    for task in first.split("train") + first.split("test") + first.sample(3):
        validate_task(task, family)


@pytest.mark.parametrize("family", CONTINUOUS)
def test_splits_are_fixed_disjoint_and_sized(family: str) -> None:
    distribution = make_task_distribution(family, seed=0, n_train=20, n_test=7)
    train, test = distribution.split("train"), distribution.split("test")
    assert len(train) == len(set(train)) == 20 and len(test) == len(set(test)) == 7
    assert not set(train) & set(test)
    distribution.sample(10)
    assert distribution.split("train") == train and distribution.split("test") == test
    assert make_task_distribution(family, seed=1, n_train=20, n_test=7).split("test") != test


@pytest.mark.parametrize("family", CONTINUOUS)
def test_sample_draws_fresh_tasks_never_test_ones(family: str) -> None:
    distribution = make_task_distribution(family, seed=0, n_train=5, n_test=5)
    rng = np.random.default_rng(0)
    sampled = distribution.sample(40, rng)
    assert len(set(sampled)) == 40
    assert not set(sampled) & set(distribution.split("test"))
    assert not set(sampled) & set(distribution.split("train"))  # fresh draws, not the train pool
    assert distribution.sample(3, rng) != distribution.sample(3, rng)


def test_sample_rejects_the_test_tasks() -> None:
    distribution = make_task_distribution("HalfCheetahVel", seed=0, n_train=5, n_test=5)

    def split_generator() -> np.random.Generator:  # the generator that drew the splits
        return np.random.default_rng(np.random.SeedSequence(0).spawn(2)[0])

    replay = split_generator()
    replay.uniform(0.0, 2.0, size=5)  # past the train tasks: its next draws are the test tasks
    sampled = distribution.sample(3, replay)
    expected = split_generator().uniform(0.0, 2.0, size=13)[10:]  # the draws after them
    assert [task.params["velocity"] for task in sampled] == expected.tolist()


@pytest.mark.parametrize("family", ["HalfCheetahDir", "AntDir"])
def test_finite_families_enumerate_their_tasks(family: str) -> None:
    distribution = make_task_distribution(family, seed=0)
    directions = sorted(task.params["direction"] for task in distribution.split("train"))
    assert directions == [-1.0, 1.0]
    assert distribution.split("test") == distribution.split("train")
    sampled = distribution.sample(50, np.random.default_rng(0))
    assert {task.params["direction"] for task in sampled} == {-1.0, 1.0}


def test_errors() -> None:
    with pytest.raises(TaskError, match="unknown task family"):
        make_task_distribution("HalfCheetahSpeed", seed=0)
    with pytest.raises(TaskError):
        make_task_distribution("HalfCheetahVel", seed=0, n_train=0)
    distribution = make_task_distribution("HalfCheetahVel", seed=0)
    with pytest.raises(TaskError):
        distribution.split("validation")  # type: ignore[arg-type]
    with pytest.raises(TaskError):
        distribution.sample(-1)
    assert distribution.sample(0) == []
