"""A batch of environments split into shards, each stepped by its own worker process.

Threads cannot run many envs' Python ``step`` at once (the GIL); processes can.
:class:`ShardedBackend` splits the envs into contiguous shards, builds each shard's backend in a
worker process and, per step, sends every worker its shard's actions and gathers the
observations, rewards and flags back (one message each way per worker and step). Workers are
forked, so the families this process has registered (user plugins included) are theirs too.

Each env lives in one worker for the backend's lifetime, together with its reset generator: a
``reset`` given the generators it was last given continues them in the workers, as an in-process
backend's envs continue theirs, so a sharded simulator reproduces the in-process one env for env
(``tests/envs/test_worker_shards.py``). An exception in a worker is re-raised in the caller with
the worker's traceback as its cause. Workers ignore SIGINT (the caller decides when to stop) and
exit when the backend is closed, garbage-collected, or its process ends.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

import numpy as np

from metarl.envs.gym_backend import StepResult
from metarl.envs.tasks import Task
from metarl.errors import TaskError


class EnvBatch(Protocol):
    """What a batched simulator steps: ``num_envs`` envs, reset and stepped together."""

    num_envs: int
    observation_dim: int
    action_low: np.ndarray
    action_high: np.ndarray

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray: ...

    def step(self, actions: np.ndarray, alive: np.ndarray) -> StepResult: ...


class EnvWorkerError(RuntimeError):
    """Where a worker's exception happened: its shard and the worker's traceback."""


class ShardedBackend:
    """``len(tasks)`` envs (one per entry of ``tasks``) in ``workers`` contiguous shards.

    Args:
        make_backend: builds the backend of a shard's tasks (called in the worker).
        tasks: the task of each env.
        workers: worker processes (at most one per env).
    """

    def __init__(
        self, make_backend: Callable[[list[Task]], EnvBatch], tasks: list[Task], workers: int
    ) -> None:
        try:
            context = multiprocessing.get_context("fork")
        except ValueError as error:
            raise TaskError("env workers need the 'fork' start method (Linux, macOS)") from error
        indices = np.array_split(np.arange(len(tasks)), min(workers, len(tasks)))
        self._shards = [slice(int(shard[0]), int(shard[-1]) + 1) for shard in indices]
        self._connections: list[Connection] = []
        self._processes: list[BaseProcess] = []
        for number, shard in enumerate(self._shards):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_serve,
                args=(theirs, make_backend, tasks[shard]),
                name=f"metarl-env-worker-{number}",
                daemon=True,
            )
            process.start()
            theirs.close()
            self._connections.append(ours)
            self._processes.append(process)
        self._close = weakref.finalize(self, _shut_down, self._connections, self._processes)
        self.num_envs = len(tasks)
        described = self._gather(range(len(self._shards)))
        self.observation_dim, self.action_low, self.action_high = described[0]
        self._sent_rngs: list[np.random.Generator] | None = None

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Reset every env; generators other than the last ones given are sent to the workers,
        the last ones given continue there."""
        fresh = rngs is not self._sent_rngs
        for connection, shard in zip(self._connections, self._shards, strict=True):
            connection.send(("reset", rngs[shard] if fresh else None))
        self._sent_rngs = rngs
        return np.concatenate(self._gather(range(len(self._shards))))

    def step(self, actions: np.ndarray, alive: np.ndarray) -> StepResult:
        """Step the ``alive`` envs; shards with none alive are not asked (their values are 0)."""
        asked = [k for k, shard in enumerate(self._shards) if alive[shard].any()]
        for k in asked:
            shard = self._shards[k]
            self._connections[k].send(("step", (actions[shard], alive[shard])))
        obs = np.zeros((self.num_envs, self.observation_dim))
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        success = np.zeros(self.num_envs, dtype=bool)
        reported = False
        for k, (shard_obs, shard_reward, shard_terminated, shard_success) in zip(
            asked, self._gather(asked), strict=True
        ):
            shard = self._shards[k]
            obs[shard], reward[shard], terminated[shard] = shard_obs, shard_reward, shard_terminated
            if shard_success is not None:
                success[shard], reported = shard_success, True
        return obs, reward, terminated, success if reported else None

    def close(self) -> None:
        """Stop the workers (also done when this backend is garbage-collected)."""
        self._close()

    def _gather(self, workers: Sequence[int]) -> list[Any]:
        """The replies of ``workers``; a worker's exception is raised once all have replied."""
        replies, failure = [], None
        for k in workers:
            try:
                status, payload = self._connections[k].recv()
            except EOFError:
                status, payload = "error", (None, "the worker exited without replying")
            if status == "error" and failure is None:
                failure = (k, *payload)
            replies.append(payload)
        if failure is not None:
            k, error, remote_traceback = failure
            shard = self._shards[k]
            where = EnvWorkerError(
                f"env worker {k} (envs {shard.start}-{shard.stop - 1}):\n{remote_traceback}"
            )
            if error is None:
                self.close()
                raise where
            raise error from where
        return replies


def _serve(
    connection: Connection, make_backend: Callable[[list[Task]], EnvBatch], tasks: list[Task]
) -> None:
    """A worker's loop: build the shard's backend, then answer reset and step messages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rngs: list[np.random.Generator] = []
    try:
        backend = make_backend(tasks)
        connection.send(("ok", (backend.observation_dim, backend.action_low, backend.action_high)))
    except Exception as error:
        connection.send(("error", _described(error)))
        return
    while True:
        try:
            command, payload = connection.recv()
        except EOFError:  # the backend's process is gone
            return
        if command == "close":
            return
        try:
            if command == "reset":
                rngs = rngs if payload is None else payload
                reply: Any = backend.reset(rngs)
            else:
                reply = backend.step(*payload)
            connection.send(("ok", reply))
        except Exception as error:
            connection.send(("error", _described(error)))


def _described(error: Exception) -> tuple[Exception | None, str]:
    """The exception (None if it cannot be pickled) and its formatted traceback."""
    text = traceback.format_exc()
    try:
        multiprocessing.reduction.ForkingPickler.dumps(error)
    except Exception:
        return None, text
    return error, text


def _shut_down(connections: list[Connection], processes: list[BaseProcess]) -> None:
    for connection in connections:
        try:
            connection.send(("close", None))
        except OSError:  # the worker is already gone
            pass
        connection.close()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join()
