"""Run directories: the resolved config, the command, checkpoints, metrics and TensorBoard logs.

Layout of a run directory::

    config.toml          the fully resolved config (re-run with ``metarl train config.toml``)
    command.txt          the command lines that created and resumed the run
    checkpoint.pt        the latest checkpoint (written atomically)
    lock                 the PID of the process writing to the run (while it runs)
    metrics.jsonl        one JSON object per logged iteration
    tensorboard/         TensorBoard event files
    evaluation.json      written by ``metarl evaluate``
    adaptation.png       written by ``metarl evaluate``
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from metarl.config import dump_toml, read_toml
from metarl.errors import RunDirError

CONFIG_FILE = "config.toml"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
LOCK_FILE = "lock"


def default_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """``runs/<name>-<UTC timestamp>``."""
    return root / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


class RunDir:
    """One run's folder; create it with :meth:`create`, reopen it with :meth:`open`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer: Any = None
        self._locked = False

    @classmethod
    def create(cls, path: Path, config: dict[str, Any]) -> RunDir:
        """Make a new run folder holding ``config`` and lock it; refuses a folder that already
        holds a run, or one that cannot be written."""
        path = Path(path)
        if (path / CONFIG_FILE).exists():
            raise RunDirError(
                f"{path} already holds a run; use --resume {path} or choose another --run-dir"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDirError(f"cannot create run directory {path}: {error.strerror}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise RunDirError(f"cannot write to run directory {path}: permission denied")
        run = cls(path)
        run.lock()
        write_atomically(path / CONFIG_FILE, dump_toml(config))
        run.record_command()
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """Reopen an existing run, checking it is one."""
        path = Path(path)
        if not path.is_dir():
            raise RunDirError(f"run directory not found: {path}")
        if not (path / CONFIG_FILE).is_file():
            raise RunDirError(f"{path} is not a metarl run (no {CONFIG_FILE})")
        return cls(path)

    # Lock --------------------------------------------------------------------------------

    def lock(self) -> None:
        """Claim the run for this process; a live other writer is an error naming its PID, the
        lock of a process that no longer runs (killed) is taken over."""
        path = self.path / LOCK_FILE
        for _ in range(2):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = lock_owner(path)
                if owner is not None and owner != os.getpid() and process_alive(owner):
                    raise RunDirError(
                        f"{self.path} is in use by process {owner}; wait for it or stop it"
                    ) from None
                path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            except OSError as error:
                raise RunDirError(f"cannot write to run directory {self.path}: {error}") from None
            with os.fdopen(descriptor, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            self._locked = True
            return
        raise RunDirError(f"cannot lock {self.path}: another process keeps taking the lock")

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock`."""
        if self._locked:
            (self.path / LOCK_FILE).unlink(missing_ok=True)
            self._locked = False

    def raw_config(self) -> dict[str, Any]:
        """The stored config as nested dicts."""
        return read_toml(self.path / CONFIG_FILE)

    def record_command(self) -> None:
        """Append the current command line to ``command.txt``."""
        line = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
        with open(self.path / "command.txt", "a") as handle:
            handle.write(line + "\n")

    # Checkpoints -------------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically, so a crash mid-write leaves the previous checkpoint."""
        partial = self.checkpoint_path.with_suffix(".pt.partial")
        torch.save(state, partial)
        os.replace(partial, self.checkpoint_path)

    def checkpoint_iteration(self) -> int | None:
        """The iteration of the stored checkpoint, or None when there is none yet."""
        if not self.has_checkpoint():
            return None
        return int(self.load_checkpoint()["iteration"])

    def load_checkpoint(self) -> dict[str, Any]:
        if not self.has_checkpoint():
            raise RunDirError(f"{self.path} has no checkpoint yet ({CHECKPOINT_FILE})")
        try:
            return torch.load(self.checkpoint_path, weights_only=False)
        except Exception as error:  # a torn or foreign file
            raise RunDirError(f"cannot read checkpoint {self.checkpoint_path}: {error}") from None

    # Metrics -----------------------------------------------------------------------------

    def log(self, iteration: int, scalars: dict[str, float], step: int | None = None) -> None:
        """Append ``scalars`` to metrics.jsonl and TensorBoard (x-axis ``step`` or iteration)."""
        record = {"iteration": iteration, **({"step": step} if step is not None else {}), **scalars}
        with open(self.path / METRICS_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        writer = self.tensorboard()
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, iteration if step is None else step)

    def truncate_metrics(self, last_iteration: int) -> None:
        """Drop metric lines logged after ``last_iteration`` (work lost in a crash)."""
        path = self.path / METRICS_FILE
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        kept = [
            line
            for line in lines
            if (record := parse_record(line)) is not None and record["iteration"] <= last_iteration
        ]
        if kept != lines:
            write_atomically(path, "".join(line + "\n" for line in kept))

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / METRICS_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def tensorboard(self) -> Any:
        """The run's TensorBoard ``SummaryWriter`` (opened on first use)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.path / "tensorboard"))
        return self._writer

    def close(self) -> None:
        """Flush TensorBoard and release the lock."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.unlock()

    # Evaluation --------------------------------------------------------------------------

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.path / name
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a crash leaves either the old or the new file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def parse_record(line: str) -> dict[str, Any] | None:
    """One metrics.jsonl line, or None for a blank line or one torn by a crash mid-write."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and "iteration" in record else None


def lock_owner(path: Path) -> int | None:
    """The PID written in a lock file, or None when it is unreadable (torn by a crash)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent still answers kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return True
