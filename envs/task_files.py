"""Chosen evaluation tasks: a JSON-lines task file, or a family's range shifted per parameter.

A task file holds one :class:`~metarl.envs.Task` JSON object a line
(``{"family": "HalfCheetahVel", "params": {"velocity": 2.5}}``; blank lines are skipped). A task
range replaces the space of named parameters by ``U[low, high]`` (``velocity=2,3``). Tasks outside
the family's ranges are refused unless ``allow_out_of_range`` is set; they are then marked
``out_of_range`` and checked for names and shapes only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metarl.envs.families import get_family, validate_task
from metarl.envs.spaces import TaskList
from metarl.envs.tasks import Task, Uniform
from metarl.errors import TaskError

OUT_OF_RANGE_HINT = "pass --allow-out-of-range to evaluate outside the family's ranges"


def _accept(task: Task, family: str, allow_out_of_range: bool) -> Task:
    """``task`` validated against ``family``, marked out of range if allowed and needed."""
    try:
        validate_task(task, family)
        return task
    except TaskError as error:
        if not allow_out_of_range:
            raise TaskError(f"{error}; {OUT_OF_RANGE_HINT}") from None
    marked = Task(task.family, task.params, out_of_range=True)
    validate_task(marked, family)  # names and shapes still have to be right
    return marked


def read_tasks_file(path: Path, family: str, allow_out_of_range: bool = False) -> list[Task]:
    """The tasks of a JSON-lines file, each of ``family``; TaskError naming the file and line."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise TaskError(f"cannot read task file {path}: {error.strerror}") from None
    tasks = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            tasks.append(_accept(Task.from_json(line), family, allow_out_of_range))
        except TaskError as error:
            raise TaskError(f"{path}:{number}: {error}") from None
    if not tasks:
        raise TaskError(f"task file {path} holds no tasks")
    return tasks


def parse_task_ranges(texts: list[str], family: str) -> dict[str, tuple[float, float]]:
    """``["velocity=2,3"]`` → ``{"velocity": (2.0, 3.0)}``, checked against ``family``'s names."""
    spec = get_family(family)
    ranges: dict[str, tuple[float, float]] = {}
    for text in texts:
        name, _, bounds = text.partition("=")
        name = name.strip()
        try:
            low, high = (float(bound) for bound in bounds.split(","))
        except ValueError:
            raise TaskError(f"--task-range expects NAME=LOW,HIGH, got {text!r}") from None
        if isinstance(spec.params, TaskList) or name not in spec.params:
            raise TaskError(
                f"--task-range {text!r}: {family} has no range parameter {name!r}; "
                f"its parameters are {spec.param_names}"
            )
        if not low <= high:
            raise TaskError(f"--task-range {text!r}: LOW must not exceed HIGH")
        ranges[name] = (low, high)
    return ranges


def range_tasks(
    family: str,
    ranges: dict[str, tuple[float, float]],
    n: int,
    seed: int,
    allow_out_of_range: bool = False,
) -> list[Task]:
    """``n`` tasks of ``family`` with each parameter in ``ranges`` drawn from ``U[low, high]``
    (of the parameter's size) and the others from the family's spaces, seeded by ``seed``."""
    spec = get_family(family)
    assert not isinstance(spec.params, TaskList)
    defaults = spec.default_params()
    spaces = dict(spec.params)
    for name, (low, high) in ranges.items():
        size = None if isinstance(defaults[name], float) else len(defaults[name])
        spaces[name] = Uniform(low, high, size)
        for bound in (low, high):  # a range inside the family's is checked at its ends
            value = bound if size is None else [bound] * size
            corner = Task(family, {**defaults, name: value})
            try:
                _accept(corner, family, allow_out_of_range)
            except TaskError:
                raise TaskError(
                    f"--task-range {name}={low:g},{high:g} leaves {family}'s "
                    f"{name} space {spec.params[name].describe()}; {OUT_OF_RANGE_HINT}"
                ) from None
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(n):
        params = {name: space.sample(rng) for name, space in spaces.items()}
        tasks.append(_accept(Task(family, params), family, allow_out_of_range))
    return tasks
