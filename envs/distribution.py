"""Seeded task distributions with fixed, disjoint train and test splits."""

from __future__ import annotations

from typing import Literal

import numpy as np

from metarl.envs.families import Family, get_family, validate_task
from metarl.envs.tasks import Task
from metarl.errors import TaskError


class TaskDistribution:
    """The tasks of one family, split once into train and test from a seed.

    Args:
        family: a family name (see :func:`metarl.envs.list_families`).
        seed: seeds both the split and the distribution's own sampling generator.
        n_train: number of train tasks (continuous families).
        n_test: number of test tasks (continuous families).

    Continuous families draw ``n_train + n_test`` tasks from one generator; train and test are
    fixed and disjoint, and :meth:`sample` draws fresh tasks but never a test task. The finite
    families (HalfCheetahDir, AntDir) have only two tasks, +1 and -1, and none can be held out:
    both splits hold those same two tasks, ``n_train`` / ``n_test`` do not apply, and
    :meth:`sample` draws from the two (families given as a task list likewise). This follows
    the MAML paper and its reference code (pytorch-maml-rl), which train and evaluate on both
    directions. A task list with held-out ``test`` tasks (Meta-World) has them as its test split;
    its train split is the rest, and :meth:`sample` draws from the train split only.
    """

    def __init__(self, family: str, seed: int, n_train: int = 100, n_test: int = 40) -> None:
        self.family: Family = get_family(family)
        if n_train < 1 or n_test < 1:
            raise TaskError(f"n_train and n_test must be at least 1, got {n_train}, {n_test}")
        self.seed = seed
        split_seed, sample_seed = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(sample_seed)
        if self.family.finite:
            self._train, self._test = self.family.enumerate(), self.family.enumerate("test")
        else:
            tasks = self._draw(np.random.default_rng(split_seed), n_train + n_test, set())
            self._train, self._test = tasks[:n_train], tasks[n_train:]

    def _draw(self, rng: np.random.Generator, n: int, exclude: set[Task]) -> list[Task]:
        """``n`` distinct tasks from the family's distribution, none of them in ``exclude``.

        A repeat has probability 0 for continuous families, but distinctness is promised.
        """
        seen = set(exclude)
        tasks: list[Task] = []
        for _ in range(100 * n + 1000):
            if len(tasks) == n:
                break
            task = Task(self.family.name, self.family.sample_params(rng))
            if task not in seen:
                seen.add(task)
                tasks.append(task)
        if len(tasks) < n:
            raise TaskError(
                f"{self.family.name} has too few distinct tasks for {n} draws; "
                "give it a TaskList, or smaller train_tasks/test_tasks"
            )
        return tasks

    def split(self, name: Literal["train", "test"]) -> list[Task]:
        """The fixed train or test tasks (a new list each call)."""
        if name == "train":
            return list(self._train)
        if name == "test":
            return list(self._test)
        raise TaskError(f'split must be "train" or "test", got {name!r}')

    def sample(self, n: int, rng: np.random.Generator | None = None) -> list[Task]:
        """``n`` fresh tasks drawn from the family's distribution, as MAML draws a meta-batch.

        Continuous families: distinct new draws, never a task of the test split. Finite families:
        draws with replacement from their train split. The same generator state gives the same
        tasks.

        Args:
            n: number of tasks.
            rng: the generator to draw with; the distribution's own seeded one if None.
        """
        if n < 0:
            raise TaskError(f"cannot sample {n} tasks")
        rng = self._rng if rng is None else rng
        if self.family.finite:
            return [self._train[i] for i in rng.integers(len(self._train), size=n)]
        return self._draw(rng, n, set(self._test))

    def validate(self, task: Task) -> None:
        """Raise TaskError unless ``task`` is a valid task of this distribution's family."""
        validate_task(task, self.family.name)


def make_task_distribution(
    family: str, seed: int, n_train: int = 100, n_test: int = 40
) -> TaskDistribution:
    """The seeded :class:`TaskDistribution` of ``family`` (TaskError if the family is unknown)."""
    return TaskDistribution(family, seed, n_train, n_test)
