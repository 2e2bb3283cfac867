"""Parameter spaces beyond a box: a ball, log-uniform scales, a finite list of tasks, and the
protocol any user-defined space follows.

A parameter space draws one task parameter (a float or a list of floats). It needs four methods,
the :class:`ParamSpace` protocol; :func:`metarl.envs.register_family` checks them at registration:

- ``sample(rng) -> value``: one draw from a ``numpy.random.Generator``;
- ``default() -> value``: the value an env runs before it is given a task;
- ``check(name, value) -> None``: raise :class:`~metarl.errors.TaskError` unless ``value`` is a
  well-formed value of this space (shape and range);
- ``describe() -> str``: a short text for ``metarl envs`` and the docs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from metarl.envs.tasks import ParamValue, Task, check_shape
from metarl.errors import TaskError


@runtime_checkable
class ParamSpace(Protocol):
    """What a task parameter is drawn from (see the module docstring)."""

    def sample(self, rng: np.random.Generator) -> ParamValue: ...

    def default(self) -> ParamValue: ...

    def check(self, name: str, value: ParamValue) -> None: ...

    def describe(self) -> str: ...


PROTOCOL_METHODS = ("sample", "default", "check", "describe")


def check_space(name: str, space: Any) -> None:
    """TaskError unless ``space`` has the four methods of :class:`ParamSpace`."""
    missing = [method for method in PROTOCOL_METHODS if not callable(getattr(space, method, None))]
    if missing:
        raise TaskError(
            f"parameter {name!r}: {type(space).__name__} is not a parameter space "
            f"(missing {', '.join(missing)}; see metarl.envs.ParamSpace)"
        )


@dataclass(frozen=True)
class Ball:
    """A point drawn uniformly from the ball (a disk in 2D) of ``radius`` around ``center``.

    Uniform in volume: direction from a normalised Gaussian, radius ``R·U^(1/d)``.
    """

    radius: float
    center: tuple[float, ...] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not self.radius > 0 or not self.center:
            raise TaskError(f"a ball needs radius > 0 and a center, got {self}")
        object.__setattr__(self, "center", tuple(float(c) for c in self.center))

    def sample(self, rng: np.random.Generator) -> ParamValue:
        dim = len(self.center)
        direction = rng.standard_normal(dim)
        direction /= np.linalg.norm(direction)
        distance = self.radius * rng.uniform() ** (1.0 / dim)
        return (np.asarray(self.center) + distance * direction).tolist()

    def default(self) -> ParamValue:
        return list(self.center)

    def check(self, name: str, value: ParamValue) -> None:
        check_shape(name, value, len(self.center))
        distance = float(np.linalg.norm(np.asarray(value) - np.asarray(self.center)))
        if distance > self.radius * (1 + 1e-12):
            raise TaskError(f"{name}={value} is {distance:g} from the center, over {self.radius}")

    def describe(self) -> str:
        center = ", ".join(f"{c:g}" for c in self.center)
        return f"ball(r={self.radius:g}, center=({center}))"


@dataclass(frozen=True)
class LogUniform:
    """A float (or ``size`` floats) whose logarithm is uniform: ``exp(U[log low, log high])``."""

    low: float
    high: float
    size: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise TaskError(f"log-uniform needs 0 < low <= high, got {self.low}, {self.high}")

    def sample(self, rng: np.random.Generator) -> ParamValue:
        draw = np.exp(rng.uniform(math.log(self.low), math.log(self.high), size=self.size))
        return float(draw) if self.size is None else draw.tolist()

    def default(self) -> ParamValue:
        middle = math.sqrt(self.low * self.high)
        return middle if self.size is None else [middle] * self.size

    def check(self, name: str, value: ParamValue) -> None:
        check_shape(name, value, self.size)
        tolerance = 1e-12 * self.high
        for item in np.atleast_1d(value):
            if not self.low - tolerance <= item <= self.high + tolerance:
                raise TaskError(f"{name}={value} is outside [{self.low}, {self.high}]")

    def describe(self) -> str:
        box = f"logU[{self.low:g}, {self.high:g}]"
        return box if self.size is None else f"{box}^{self.size}"


class TaskList:
    """A family with finitely many tasks, given as a list of parameter dicts.

    Pass it as ``register_family(..., params=TaskList([...]))``. Its tasks are drawn uniformly
    (with replacement). Without ``test``, the train and test splits both hold all of them, as for
    the Dir families; with ``test``, those tasks are the test split, held out: never drawn for
    training (a benchmark's own split, e.g. Meta-World's).
    """

    def __init__(
        self,
        tasks: Sequence[Mapping[str, Any]],
        test: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if not tasks or (test is not None and not test):
            raise TaskError("a task list needs at least one task (and one test task if given)")
        names = set(tasks[0])
        for i, params in enumerate([*tasks, *(test or [])]):
            if set(params) != names:
                raise TaskError(
                    f"task list entry {i} has parameters {sorted(params)}, "
                    f"entry 0 has {sorted(names)}"
                )
        self.params: tuple[dict[str, ParamValue], ...] = _normalised(tasks)
        self.test_params: tuple[dict[str, ParamValue], ...] | None = (
            None if test is None else _normalised(test)
        )
        if self.test_params is not None and set(map(_key, self.params)) & set(
            map(_key, self.test_params)
        ):
            raise TaskError("a task list's test tasks must not be among its train tasks")
        self.names = sorted(names)

    def tasks(self, family: str, split: str = "train") -> list[Task]:
        """The listed tasks of ``family`` of ``split`` ("train", or "test": the held-out ones,
        all of them without a ``test`` list), in order."""
        listed = self.test_params if split == "test" and self.test_params else self.params
        return [Task(family, dict(params)) for params in listed]

    def check(self, params: Mapping[str, ParamValue]) -> None:
        if dict(params) not in self.params and dict(params) not in (self.test_params or ()):
            count = len(self.params) + len(self.test_params or ())
            raise TaskError(f"{dict(params)} is not one of the family's {count} tasks")

    def describe(self) -> str:
        held_out = f" (+{len(self.test_params)} held out)" if self.test_params else ""
        return f"{len(self.params)} listed tasks{held_out}"


def _normalised(tasks: Sequence[Mapping[str, Any]]) -> tuple[dict[str, ParamValue], ...]:
    return tuple(Task("_", dict(params)).params for params in tasks)


def _key(params: dict[str, ParamValue]) -> str:
    return Task("_", params).to_json()
