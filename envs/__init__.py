"""Meta-RL task families: plain-data tasks, seeded task distributions, Gymnasium envs registered
as ``metarl/<Family>-v0``, and a batched simulator that steps many of them at once.

Importing this package registers the shipped families, so
``gymnasium.make("metarl/HalfCheetahVel-v0")`` works after ``import metarl.envs``. Families of
your own are registered with :func:`register_family` (see ``docs/envs.md``, "Adding a task
family").
"""

from metarl.envs.batched import BatchedSimulator
from metarl.envs.distribution import TaskDistribution, make_task_distribution
from metarl.envs.families import (
    Family,
    get_family,
    list_families,
    register_family,
    validate_task,
)
from metarl.envs.spaces import Ball, LogUniform, ParamSpace, TaskList
from metarl.envs.task_env import TaskEnvMixin
from metarl.envs.tasks import Choice, Multipliers, Task, Uniform

__all__ = [
    "Ball",
    "BatchedSimulator",
    "Choice",
    "Family",
    "LogUniform",
    "Multipliers",
    "ParamSpace",
    "Task",
    "TaskDistribution",
    "TaskEnvMixin",
    "TaskList",
    "Uniform",
    "get_family",
    "list_families",
    "make_task_distribution",
    "register_family",
    "validate_task",
]
