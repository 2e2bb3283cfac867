"""The task interface shared by every family's Gymnasium env."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import EzPickle

from metarl.envs.families import default_task, validate_task
from metarl.envs.tasks import Task


class TaskEnvMixin:
    """Adds ``set_task(task)`` and ``reset(options={"task": task})`` to a Gymnasium env.

    Put it first among the bases; the env class sets ``family`` (and ``env_kwargs``, its defaults
    for the base env's keyword arguments) and reads the task from ``task_params`` (name → array)
    or in ``_apply_task``. A new task changes the reward (or the model) from the next step on; the
    current state is kept until the next reset.

    Args:
        task: the task to run; the family's default task if None.
        **kwargs: passed to the base env, over ``env_kwargs``.
    """

    family: ClassVar[str]
    env_kwargs: ClassVar[dict[str, Any]] = {}
    task: Task
    task_params: dict[str, np.ndarray]

    def __init__(self, task: Task | None = None, **kwargs: Any) -> None:
        super().__init__(**{**self.env_kwargs, **kwargs})
        if isinstance(self, EzPickle):  # record this class's arguments, not the base env's
            EzPickle.__init__(self, task, **kwargs)
        self.set_task(default_task(self.family) if task is None else task)

    def set_task(self, task: Task) -> None:
        """Validate ``task`` (TaskError if it is not of this env's family) and switch to it."""
        validate_task(task, self.family)
        self.task = task
        self.task_params = {name: np.asarray(value) for name, value in task.params.items()}
        self._apply_task(task)

    def _apply_task(self, task: Task) -> None:
        """Hook for what a task changes beyond ``task_params`` (the dynamics families' model)."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Gymnasium's reset; ``options={"task": task}`` switches task first."""
        if options is not None and "task" in options:
            self.set_task(options["task"])
        return super().reset(seed=seed, options=options)  # type: ignore[misc]
