"""Experiment kinds: what the CLI needs from few-shot learning and from meta-RL.

A config names its kind at the top (``kind = "fewshot"`` or ``kind = "rl"``); each kind's module
provides the config schema, builds a :class:`~metarl.training.Trainer`, and evaluates one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from metarl.config import apply_overrides, from_dict
from metarl.errors import ConfigError
from metarl.runs import RunDir
from metarl.training import Trainer

KIND_MODULES = {"fewshot": "metarl.fewshot.experiment", "rl": "metarl.agents.experiment"}


@dataclass(frozen=True)
class EvaluateOptions:
    """``metarl evaluate`` options; ``None`` means the config's or the kind's default."""

    split: str = "test"
    steps: int | None = None
    tasks: int | None = None
    rollouts: int | None = None
    baseline: Path | None = None
    data_dir: Path | None = None
    tasks_file: Path | None = None
    task_range: tuple[str, ...] = ()
    allow_out_of_range: bool = False


class ExperimentKind(Protocol):
    """The module of one kind (see ``KIND_MODULES``)."""

    SCHEMA: type
    """Frozen dataclass of the whole config; has ``kind: str`` and ``run: RunConfig``."""

    def build_trainer(self, config: Any) -> Trainer:
        """A fresh trainer (model initialised from ``config.run.seed``)."""

    def evaluate(
        self, config: Any, trainer: Trainer, run: RunDir, options: EvaluateOptions
    ) -> dict[str, Any]:
        """Adaptation curve on held-out tasks; writes evaluation.json and adaptation.png."""


def kind_module(kind: Any) -> ExperimentKind:
    """The module implementing ``kind``."""
    if kind not in KIND_MODULES:
        raise ConfigError(f"unknown experiment kind {kind!r}; choose one of {list(KIND_MODULES)}")
    return importlib.import_module(KIND_MODULES[kind])  # type: ignore[return-value]


def resolve_config(raw: dict[str, Any], overrides: list[str]) -> tuple[ExperimentKind, Any]:
    """Apply ``key=value`` overrides to a raw config and validate it against its kind's schema."""
    data = apply_overrides(raw, overrides)
    if "kind" not in data:
        raise ConfigError(f"config has no 'kind' key; set kind to one of {list(KIND_MODULES)}")
    module = kind_module(data["kind"])
    return module, from_dict(module.SCHEMA, data)
