"""Tasks as plain data, and the parameter kinds a task family draws them from.

A :class:`Task` names its family and holds JSON-ready parameters (a float, or a list of floats).
The parameter kinds mirror how the meta-RL reference code samples tasks: uniform targets
(cbfinn/maml_rl, tristandeleu/pytorch-maml-rl), a choice of directions, and log-uniform dynamics
multipliers (rand_param_envs, as used by ProMP, Rothfuss et al. 2019).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metarl.errors import TaskError

ParamValue = float | list[float]


@dataclass(frozen=True)
class Task:
    """One task: its family's name and its parameters.

    Attributes:
        family: the family name, e.g. ``"HalfCheetahVel"``.
        params: parameter name → float or list of floats (numbers are normalised to ``float``).
        out_of_range: the task was explicitly accepted outside its family's ranges (evaluation
            only, ``--allow-out-of-range``): validation then checks names and shapes, not ranges.
            Not part of the task's identity (equality, hash, JSON).
    """

    family: str
    params: dict[str, ParamValue]
    out_of_range: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.family, str):
            raise TaskError(f"task family must be a string, got {self.family!r}")
        if not isinstance(self.params, dict):
            raise TaskError(f"task params must be a dict, got {type(self.params).__name__}")
        params = {str(name): _as_param(name, value) for name, value in self.params.items()}
        object.__setattr__(self, "params", params)

    def __hash__(self) -> int:
        return hash(self.to_json())

    def to_json(self) -> str:
        """The task as one line of JSON (keys sorted, so equal tasks give equal text)."""
        return json.dumps({"family": self.family, "params": self.params}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Task:
        """Parse :meth:`to_json` output; raises TaskError on malformed text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise TaskError(f"task is not valid JSON: {error}") from None
        if not isinstance(data, dict) or set(data) != {"family", "params"}:
            raise TaskError('task JSON must be an object with exactly "family" and "params"')
        return cls(data["family"], data["params"])


def _as_param(name: str, value: Any) -> ParamValue:
    """A parameter value as ``float`` or ``list[float]``; TaskError for anything else."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_as_float(name, item) for item in value]
    return _as_float(name, value)


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TaskError(f"task parameter {name!r} must be a number or a list of numbers")
    return float(value)


@dataclass(frozen=True)
class Uniform:
    """A float, or a list of ``size`` floats, drawn uniformly from ``[low, high]``."""

    low: float
    high: float
    size: int | None = None

    def sample(self, rng: np.random.Generator) -> ParamValue:
        if self.size is None:
            return float(rng.uniform(self.low, self.high))
        return rng.uniform(self.low, self.high, size=self.size).tolist()

    def default(self) -> ParamValue:
        middle = (self.low + self.high) / 2
        return middle if self.size is None else [middle] * self.size

    def check(self, name: str, value: ParamValue) -> None:
        check_shape(name, value, self.size)
        for item in np.atleast_1d(value):
            if not self.low <= item <= self.high:
                raise TaskError(f"{name}={value} is outside [{self.low}, {self.high}]")

    def describe(self) -> str:
        box = f"U[{self.low:g}, {self.high:g}]"
        return box if self.size is None else f"{box}^{self.size}"


@dataclass(frozen=True)
class Choice:
    """One of a few floats, e.g. the directions ``+1`` and ``-1``."""

    values: tuple[float, ...]

    def sample(self, rng: np.random.Generator) -> ParamValue:
        return self.values[int(rng.integers(len(self.values)))]

    def default(self) -> ParamValue:
        return self.values[0]

    def check(self, name: str, value: ParamValue) -> None:
        if value not in self.values:
            raise TaskError(f"{name}={value} is not one of {list(self.values)}")

    def describe(self) -> str:
        return "{" + ", ".join(f"{value:+g}" for value in self.values) + "}"


@dataclass(frozen=True)
class Multipliers:
    """One multiplier ``base ** U[-limit, limit]`` per row of a model field (rand_param_envs).

    ``size`` is called lazily: it loads the robot's model to count bodies, dofs or geoms.
    """

    base: float
    size: Callable[[], int]
    what: str
    limit: float = 3.0

    def sample(self, rng: np.random.Generator) -> ParamValue:
        exponents = rng.uniform(-self.limit, self.limit, size=self.size())
        return (self.base**exponents).tolist()

    def default(self) -> ParamValue:
        return [1.0] * self.size()

    def check(self, name: str, value: ParamValue) -> None:
        check_shape(name, value, self.size())
        bound = self.base**self.limit
        tolerance = 1e-9 * bound
        for item in value:
            if not 1 / bound - tolerance <= item <= bound + tolerance:
                raise TaskError(f"{name} multiplier {item} is outside [{1 / bound}, {bound}]")

    def describe(self) -> str:
        return f"{self.base:g}^U[-{self.limit:g}, {self.limit:g}] per {self.what}"


ParamSpec = Uniform | Choice | Multipliers


def check_shape(name: str, value: ParamValue, size: int | None) -> None:
    """TaskError unless ``value`` is one finite float (``size`` None) or ``size`` finite floats."""
    if size is None and not isinstance(value, float):
        raise TaskError(f"task parameter {name!r} must be a single number")
    if size is not None and (not isinstance(value, list) or len(value) != size):
        raise TaskError(f"task parameter {name!r} must be a list of {size} numbers")
    if not all(math.isfinite(item) for item in np.atleast_1d(value)):
        raise TaskError(f"task parameter {name!r} must be finite")
