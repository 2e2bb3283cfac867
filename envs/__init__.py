"""Meta-RL task families: plain-data tasks, seeded task distributions, Gymnasium envs registered
as ``metarl/<Family>-v0``, and a batched simulator that steps many of them at once.

Importing this package registers the envs, so ``gymnasium.make("metarl/HalfCheetahVel-v0")``
works after ``import metarl.envs`` (or as ``gymnasium.make("metarl.envs:metarl/...")``).
"""

from metarl.envs.batched import BatchedSimulator
from metarl.envs.distribution import TaskDistribution, make_task_distribution
from metarl.envs.families import list_families, register_envs, validate_task
from metarl.envs.tasks import Task

register_envs()

__all__ = [
    "BatchedSimulator",
    "Task",
    "TaskDistribution",
    "list_families",
    "make_task_distribution",
    "validate_task",
]
