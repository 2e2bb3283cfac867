"""Tasks as data: JSON round trips, malformed input, and validation against the families."""

import math

import numpy as np
import pytest

from metarl.envs import Task, list_families, make_task_distribution, validate_task
from metarl.errors import TaskError

# One Meta-World ML1 family stands for the 50 (they differ only in the skill).
FAMILIES = [
    name
    for name, _, _ in list_families()
    if not name.startswith("MetaWorldML1_") or name == "MetaWorldML1_reach_v3"
]


@pytest.mark.parametrize("family", FAMILIES)
def test_json_round_trip(family: str) -> None:
    task = make_task_distribution(family, seed=0).split("test")[0]
    text = task.to_json()
    assert "\n" not in text
    again = Task.from_json(text)
    assert again == task and hash(again) == hash(task)
    validate_task(again, family)


def test_numbers_are_normalised_to_floats() -> None:
    task = Task("Navigation2D", {"goal": np.array([0, 0.25], dtype=np.float32)})
    assert task.params == {"goal": [0.0, 0.25]}
    assert all(type(value) is float for value in task.params["goal"])
    assert Task("HalfCheetahVel", {"velocity": np.float64(1)}).params == {"velocity": 1.0}


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"family": "HalfCheetahVel"}',
        '{"family": "HalfCheetahVel", "params": {}, "extra": 1}',
        '{"family": 3, "params": {}}',
        '{"family": "HalfCheetahVel", "params": [1.0]}',
        '{"family": "HalfCheetahVel", "params": {"velocity": "fast"}}',
        '{"family": "HalfCheetahVel", "params": {"velocity": true}}',
        '{"family": "Navigation2D", "params": {"goal": [0.1, null]}}',
    ],
)
def test_malformed_json_raises(text: str) -> None:
    with pytest.raises(TaskError):
        Task.from_json(text)


@pytest.mark.parametrize(
    "task",
    [
        Task("HalfCheetahVel", {"velocity": 2.5}),
        Task("HalfCheetahVel", {"velocity": -0.1}),
        Task("HalfCheetahVel", {"velocity": math.nan}),
        Task("HalfCheetahVel", {"velocity": [1.0]}),
        Task("HalfCheetahVel", {}),
        Task("HalfCheetahVel", {"velocity": 1.0, "direction": 1.0}),
        Task("HalfCheetahDir", {"direction": 0.5}),
        Task("Navigation2D", {"goal": [0.1, 0.6]}),
        Task("Navigation2D", {"goal": [0.1]}),
        Task("Navigation2D", {"goal": 0.1}),
        Task("AntGoal", {"goal": [math.inf, 0.0]}),
        Task("HopperParams", {"body_mass": [1.0], "body_inertia": [], "dof_damping": []}),
    ],
)
def test_invalid_params_raise(task: Task) -> None:
    with pytest.raises(TaskError):
        validate_task(task)


def test_dynamics_multipliers_out_of_range_raise() -> None:
    task = make_task_distribution("HopperParams", seed=0).split("train")[0]
    masses = list(task.params["body_mass"])
    masses[1] = 1.5**3 * 1.01
    with pytest.raises(TaskError, match="outside"):
        validate_task(Task("HopperParams", {**task.params, "body_mass": masses}))


def test_unknown_family_and_family_mismatch_raise() -> None:
    with pytest.raises(TaskError, match="unknown task family 'Cartpole'.*HalfCheetahVel"):
        validate_task(Task("Cartpole", {}))
    with pytest.raises(TaskError, match="expected"):
        validate_task(Task("HalfCheetahDir", {"direction": 1.0}), "HalfCheetahVel")
    with pytest.raises(TaskError):
        validate_task({"family": "HalfCheetahVel", "params": {"velocity": 1.0}})  # type: ignore[arg-type]
