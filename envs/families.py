"""The task families: their parameters, Gymnasium ids and registration, and task validation."""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium
import numpy as np
from gymnasium.envs.registration import load_env_creator

from metarl.envs.models import field_rows
from metarl.envs.spaces import ParamSpace, TaskList, check_space
from metarl.envs.tasks import Choice, Multipliers, ParamValue, Task, Uniform, check_shape
from metarl.errors import TaskError

NAMESPACE = "metarl"
VERSION = 0
MUJOCO_HORIZON = 200
NAVIGATION_HORIZON = 100


Backend = Literal["auto", "navigation", "mujoco_batch", "generic_mujoco", "gym"]
BACKENDS: tuple[str, ...] = typing.get_args(Backend)


@dataclass(frozen=True)
class Family:
    """A task family: how its tasks are drawn and which Gymnasium env runs them.

    Attributes:
        name: the family name, also the ``Task.family`` of its tasks.
        entry_point: the env class, or ``"module:Class"`` as Gymnasium's registry takes it.
        max_episode_steps: the horizon in the registration.
        description: one line for ``metarl envs``.
        params: parameter name → its space (see :mod:`metarl.envs.spaces`), or a
            :class:`~metarl.envs.spaces.TaskList` for a family of finitely many listed tasks.
        backend: how the batched simulator steps it (see :mod:`metarl.envs.batched`); "auto"
            picks the generic MuJoCo backend for ``MujocoEnv`` subclasses on MuJoCo >= 4 and the
            Gymnasium fallback otherwise.
    """

    name: str
    entry_point: str | Callable[..., gymnasium.Env]
    max_episode_steps: int
    description: str
    params: dict[str, ParamSpace] | TaskList
    backend: Backend = "auto"

    @property
    def env_id(self) -> str:
        return f"{NAMESPACE}/{self.name}-v{VERSION}"

    @property
    def param_names(self) -> list[str]:
        """The names of a task's parameters."""
        if isinstance(self.params, TaskList):
            return self.params.names
        return list(self.params)

    @property
    def finite(self) -> bool:
        """Whether the family has finitely many tasks (a task list, or only choices)."""
        if isinstance(self.params, TaskList):
            return True
        return all(isinstance(spec, Choice) for spec in self.params.values())

    def enumerate(self, split: str = "train") -> list[Task]:
        """Every task of a finite family; a task list's held-out tasks for ``split="test"``."""
        if isinstance(self.params, TaskList):
            return self.params.tasks(self.name, split)
        names = list(self.params)
        choices = [spec.values for spec in self.params.values() if isinstance(spec, Choice)]
        return [
            Task(self.name, dict(zip(names, values, strict=True)))
            for values in itertools.product(*choices)
        ]

    def sample_params(self, rng: np.random.Generator) -> dict[str, ParamValue]:
        """One draw of a task's parameters."""
        if isinstance(self.params, TaskList):
            return dict(self.params.params[int(rng.integers(len(self.params.params)))])
        return {name: spec.sample(rng) for name, spec in self.params.items()}

    def default_params(self) -> dict[str, ParamValue]:
        """The parameters of the task an env runs before it is given one."""
        if isinstance(self.params, TaskList):
            return dict(self.params.params[0])
        return {name: spec.default() for name, spec in self.params.items()}

    def env_class(self) -> Callable[..., gymnasium.Env]:
        """The env class (imported from a string entry point)."""
        if callable(self.entry_point):
            return self.entry_point
        return load_env_creator(self.entry_point)


def _dynamics_params(xml_file: str) -> dict[str, ParamSpace]:
    """rand_param_envs' multipliers: base 1.5 (damping 1.3) to the power U[-3, 3]."""

    def rows(field: str) -> functools.partial[int]:
        return functools.partial(field_rows, xml_file, field)

    return {
        "body_mass": Multipliers(1.5, rows("body_mass"), "body"),
        "body_inertia": Multipliers(1.5, rows("body_inertia"), "body"),
        "dof_damping": Multipliers(1.3, rows("dof_damping"), "dof"),
        "geom_friction": Multipliers(1.5, rows("geom_friction"), "geom"),
    }


FAMILIES: dict[str, Family] = {}
"""Every registered family by name; add to it with :func:`register_family` only."""

ENTRY_POINT_GROUP = "metarl.families"
"""The Python entry-point group whose entries an installed package registers families from."""


def register_family(
    name: str,
    env: str | Callable[..., gymnasium.Env],
    params: dict[str, ParamSpace] | TaskList,
    horizon: int,
    description: str = "",
    backend: Backend = "auto",
) -> Family:
    """Register a task family; it is then a ``env.family`` of configs and ``metarl/<name>-v0``.

    Args:
        name: the family name (letters, digits and ``_``); registering a taken name is an error.
        env: the env class, or ``"module:Class"``. It follows the task protocol: ``set_task(task)``
            switches to a :class:`Task` (and ``reset(options={"task": task})`` should too).
            :class:`~metarl.envs.TaskEnvMixin` adds both to any Gymnasium env.
        params: parameter name → space (:class:`~metarl.envs.spaces.ParamSpace`), or a
            :class:`~metarl.envs.spaces.TaskList`.
        horizon: the registered ``max_episode_steps``.
        description: one line for ``metarl envs``.
        backend: how the batched simulator steps the family (default: chosen automatically).

    Returns:
        The registered :class:`Family`.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise TaskError(f"a family name must be an identifier, got {name!r}")
    if name in FAMILIES:
        raise TaskError(f"task family {name!r} is already registered ({_origin(FAMILIES[name])})")
    if not isinstance(horizon, int) or horizon < 1:
        raise TaskError(f"family {name!r}: horizon must be a positive integer, got {horizon!r}")
    if backend not in BACKENDS:
        raise TaskError(f"family {name!r}: backend must be one of {list(BACKENDS)}")
    if not isinstance(params, TaskList):
        if not isinstance(params, dict) or not params:
            raise TaskError(f"family {name!r}: params must be a dict of spaces or a TaskList")
        for param, space in params.items():
            check_space(param, space)
    if not isinstance(env, str):
        check_task_protocol(env)
    family = Family(name, env, horizon, description, params, backend)
    FAMILIES[name] = family
    if family.env_id not in gymnasium.registry:
        gymnasium.register(id=family.env_id, entry_point=env, max_episode_steps=horizon)
    return family


def check_task_protocol(env_class: Any) -> None:
    """TaskError unless ``env_class`` is a Gymnasium env class with ``set_task``."""
    label = getattr(env_class, "__qualname__", repr(env_class))
    if not (isinstance(env_class, type) and issubclass(env_class, gymnasium.Env)):
        raise TaskError(f"{label} is not a gymnasium.Env subclass")
    if not callable(getattr(env_class, "set_task", None)):
        raise TaskError(
            f"{label} does not follow the task protocol: it needs set_task(task) "
            "(derive it from metarl.envs.TaskEnvMixin, see docs/envs.md)"
        )


def _origin(family: Family) -> str:
    entry = family.entry_point
    where = entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"
    return f"env {where}"


_entry_points_loaded = False


def load_entry_points() -> None:
    """Import the families of installed packages (entry-point group ``metarl.families``), once.

    Each entry point names a module (or a callable, which is then called); importing it calls
    :func:`register_family`. A failing entry point is a TaskError naming it.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
            if callable(loaded):
                loaded()
        except TaskError as error:
            raise TaskError(f"plugin entry point {entry.name} ({entry.value}): {error}") from None
        except Exception as error:
            raise TaskError(
                f"plugin entry point {entry.name} ({entry.value}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from None


def _register_shipped() -> None:
    locomotion, dynamics = "metarl.envs.locomotion", "metarl.envs.dynamics"
    direction = Choice((1.0, -1.0))
    register_family(
        "Navigation2D",
        "metarl.envs.navigation:Navigation2DEnv",
        {"goal": Uniform(-0.5, 0.5, size=2)},
        NAVIGATION_HORIZON,
        "point robot reaching a goal in [-0.5, 0.5]^2 (MAML 2D navigation)",
        backend="navigation",
    )
    rows: list[tuple[str, str, dict[str, ParamSpace], str]] = [
        (
            "HalfCheetahVel",
            f"{locomotion}:HalfCheetahVelEnv",
            {"velocity": Uniform(0.0, 2.0)},
            "half-cheetah running at a target velocity in [0, 2]",
        ),
        (
            "HalfCheetahDir",
            f"{locomotion}:HalfCheetahDirEnv",
            {"direction": direction},
            "half-cheetah running forward or backward",
        ),
        (
            "AntVel",
            f"{locomotion}:AntVelEnv",
            {"velocity": Uniform(0.0, 3.0)},
            "ant running along x at a target velocity in [0, 3]",
        ),
        (
            "AntDir",
            f"{locomotion}:AntDirEnv",
            {"direction": direction},
            "ant running forward or backward along x",
        ),
        (
            "AntGoal",
            f"{locomotion}:AntGoalEnv",
            {"goal": Uniform(-3.0, 3.0, size=2)},
            "ant walking to a goal position in [-3, 3]^2",
        ),
    ]
    for robot, xml_file in (
        ("HalfCheetah", "half_cheetah.xml"),
        ("Hopper", "hopper.xml"),
        ("Walker2d", "walker2d_v5.xml"),
        ("Ant", "ant.xml"),
    ):
        rows.append(
            (
                f"{robot}Params",
                f"{dynamics}:{robot}ParamsEnv",
                _dynamics_params(xml_file),
                f"{robot.lower()} with random mass, inertia, damping and friction",
            )
        )
    for name, entry_point, params, description in rows:
        register_family(
            name, entry_point, params, MUJOCO_HORIZON, description, backend="mujoco_batch"
        )


_register_shipped()


def get_family(name: str) -> Family:
    """The family called ``name``; TaskError listing the known families otherwise.

    A name not registered yet is looked up in the installed plugins' entry points first.
    """
    if name not in FAMILIES:
        load_entry_points()
    try:
        return FAMILIES[name]
    except KeyError:
        raise TaskError(
            f"unknown task family {name!r}; known families: {', '.join(FAMILIES)} "
            "(a family of your own must be registered by a plugin: [env] plugins, docs/envs.md)"
        ) from None


def validate_task(task: Task, family: str | None = None) -> None:
    """Raise TaskError unless ``task`` is a well-formed task of a known family (of ``family``).

    Checks the family, that the parameter names are exactly the family's, and each value's shape
    and range (for a task marked ``out_of_range``: shape only).
    """
    if not isinstance(task, Task):
        raise TaskError(f"expected a Task, got {type(task).__name__}")
    if family is not None and task.family != family:
        raise TaskError(f"task of family {task.family!r} given where {family!r} is expected")
    spec = get_family(task.family)
    names = spec.param_names
    missing = sorted(set(names) - set(task.params))
    extra = sorted(set(task.params) - set(names))
    if missing or extra:
        raise TaskError(
            f"{task.family} task parameters must be {sorted(names)}; "
            f"missing {missing}, unexpected {extra}"
        )
    if task.out_of_range:
        defaults = spec.default_params()
        for name in names:
            size = None if isinstance(defaults[name], float) else len(defaults[name])
            check_shape(name, task.params[name], size)
    elif isinstance(spec.params, TaskList):
        spec.params.check(task.params)
    else:
        for name, space in spec.params.items():
            space.check(name, task.params[name])


def default_task(family: str) -> Task:
    """The task an env of ``family`` runs before it is given one (ranges' midpoints, +1, ×1)."""
    return Task(family, get_family(family).default_params())


def list_families() -> list[tuple[str, str, str]]:
    """``(family, Gymnasium id, one-line description)`` for every family (plugins' included)."""
    load_entry_points()
    return [(family.name, family.env_id, family.description) for family in FAMILIES.values()]
