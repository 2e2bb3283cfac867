"""The task families: their parameters, Gymnasium ids and registration, and task validation."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gymnasium

from metarl.envs.models import field_rows
from metarl.envs.tasks import Choice, Multipliers, ParamSpec, Task, Uniform
from metarl.errors import TaskError

NAMESPACE = "metarl"
VERSION = 0
MUJOCO_HORIZON = 200
NAVIGATION_HORIZON = 100


@dataclass(frozen=True)
class Family:
    """A task family: how its tasks are drawn and which Gymnasium env runs them.

    Attributes:
        name: the family name, also the ``Task.family`` of its tasks.
        entry_point: ``"module:Class"`` of the env, as Gymnasium's registry takes it.
        max_episode_steps: the horizon in the registration.
        description: one line for ``metarl envs``.
        params: parameter name → its kind and range.
    """

    name: str
    entry_point: str
    max_episode_steps: int
    description: str
    params: dict[str, ParamSpec]

    @property
    def env_id(self) -> str:
        return f"{NAMESPACE}/{self.name}-v{VERSION}"

    @property
    def finite(self) -> bool:
        """Whether the family has finitely many tasks (only choices, as the Dir families)."""
        return all(isinstance(spec, Choice) for spec in self.params.values())


def _dynamics_params(xml_file: str) -> dict[str, ParamSpec]:
    """rand_param_envs' multipliers: base 1.5 (damping 1.3) to the power U[-3, 3]."""

    def rows(field: str) -> functools.partial[int]:
        return functools.partial(field_rows, xml_file, field)

    return {
        "body_mass": Multipliers(1.5, rows("body_mass"), "body"),
        "body_inertia": Multipliers(1.5, rows("body_inertia"), "body"),
        "dof_damping": Multipliers(1.3, rows("dof_damping"), "dof"),
        "geom_friction": Multipliers(1.5, rows("geom_friction"), "geom"),
    }


_LOCOMOTION = "metarl.envs.locomotion"
_DYNAMICS = "metarl.envs.dynamics"
_DIRECTION = Choice((1.0, -1.0))

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "Navigation2D",
            "metarl.envs.navigation:Navigation2DEnv",
            NAVIGATION_HORIZON,
            "point robot reaching a goal in [-0.5, 0.5]^2 (MAML 2D navigation)",
            {"goal": Uniform(-0.5, 0.5, size=2)},
        ),
        Family(
            "HalfCheetahVel",
            f"{_LOCOMOTION}:HalfCheetahVelEnv",
            MUJOCO_HORIZON,
            "half-cheetah running at a target velocity in [0, 2]",
            {"velocity": Uniform(0.0, 2.0)},
        ),
        Family(
            "HalfCheetahDir",
            f"{_LOCOMOTION}:HalfCheetahDirEnv",
            MUJOCO_HORIZON,
            "half-cheetah running forward or backward",
            {"direction": _DIRECTION},
        ),
        Family(
            "AntVel",
            f"{_LOCOMOTION}:AntVelEnv",
            MUJOCO_HORIZON,
            "ant running along x at a target velocity in [0, 3]",
            {"velocity": Uniform(0.0, 3.0)},
        ),
        Family(
            "AntDir",
            f"{_LOCOMOTION}:AntDirEnv",
            MUJOCO_HORIZON,
            "ant running forward or backward along x",
            {"direction": _DIRECTION},
        ),
        Family(
            "AntGoal",
            f"{_LOCOMOTION}:AntGoalEnv",
            MUJOCO_HORIZON,
            "ant walking to a goal position in [-3, 3]^2",
            {"goal": Uniform(-3.0, 3.0, size=2)},
        ),
        Family(
            "HalfCheetahParams",
            f"{_DYNAMICS}:HalfCheetahParamsEnv",
            MUJOCO_HORIZON,
            "half-cheetah with random mass, inertia, damping and friction",
            _dynamics_params("half_cheetah.xml"),
        ),
        Family(
            "HopperParams",
            f"{_DYNAMICS}:HopperParamsEnv",
            MUJOCO_HORIZON,
            "hopper with random mass, inertia, damping and friction",
            _dynamics_params("hopper.xml"),
        ),
        Family(
            "Walker2dParams",
            f"{_DYNAMICS}:Walker2dParamsEnv",
            MUJOCO_HORIZON,
            "walker2d with random mass, inertia, damping and friction",
            _dynamics_params("walker2d_v5.xml"),
        ),
        Family(
            "AntParams",
            f"{_DYNAMICS}:AntParamsEnv",
            MUJOCO_HORIZON,
            "ant with random mass, inertia, damping and friction",
            _dynamics_params("ant.xml"),
        ),
    )
}


def get_family(name: str) -> Family:
    """The family called ``name``; TaskError listing the known families otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise TaskError(
            f"unknown task family {name!r}; known families: {', '.join(FAMILIES)}"
        ) from None


def validate_task(task: Task, family: str | None = None) -> None:
    """Raise TaskError unless ``task`` is a well-formed task of a known family (of ``family``).

    Checks the family, that the parameter names are exactly the family's, and each value's shape
    and range.
    """
    if not isinstance(task, Task):
        raise TaskError(f"expected a Task, got {type(task).__name__}")
    if family is not None and task.family != family:
        raise TaskError(f"task of family {task.family!r} given where {family!r} is expected")
    specs = get_family(task.family).params
    missing = sorted(set(specs) - set(task.params))
    extra = sorted(set(task.params) - set(specs))
    if missing or extra:
        raise TaskError(
            f"{task.family} task parameters must be {sorted(specs)}; "
            f"missing {missing}, unexpected {extra}"
        )
    for name, spec in specs.items():
        spec.check(name, task.params[name])


def default_task(family: str) -> Task:
    """The task an env of ``family`` runs before it is given one (ranges' midpoints, +1, ×1)."""
    specs = get_family(family).params
    return Task(family, {name: spec.default() for name, spec in specs.items()})


def list_families() -> list[tuple[str, str, str]]:
    """``(family, Gymnasium id, one-line description)`` for every family."""
    return [(family.name, family.env_id, family.description) for family in FAMILIES.values()]


def register_envs() -> None:
    """Register every family with Gymnasium as ``metarl/<Family>-v0`` (string entry points)."""
    for family in FAMILIES.values():
        if family.env_id not in gymnasium.registry:
            gymnasium.register(
                id=family.env_id,
                entry_point=family.entry_point,
                max_episode_steps=family.max_episode_steps,
            )
