"""Run directories: the resolved config, the command, checkpoints, metrics and TensorBoard logs.

Layout of a run directory::

    config.toml          the fully resolved config (re-run with ``metarl train config.toml``)
    command.txt          the command lines that created and resumed the run
    checkpoint.pt        the latest checkpoint (written atomically)
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


def default_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """``runs/<name>-<UTC timestamp>``."""
    return root / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


class RunDir:
    """One run's folder; create it with :meth:`create`, reopen it with :meth:`open`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer: Any = None

    @classmethod
    def create(cls, path: Path, config: dict[str, Any]) -> RunDir:
        """Make a new run folder holding ``config``; refuses a folder that already holds a run."""
        path = Path(path)
        if (path / CONFIG_FILE).exists():
            raise RunDirError(
                f"{path} already holds a run; use --resume {path} or choose another --run-dir"
            )
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_FILE).write_text(dump_toml(config))
        run = cls(path)
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
        kept = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["iteration"] <= last_iteration
        ]
        path.write_text("".join(line + "\n" for line in kept))

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
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # Evaluation --------------------------------------------------------------------------

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.path / name
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path
