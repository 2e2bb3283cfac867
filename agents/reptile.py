"""Reptile for RL (Nichol et al. 2018): move θ towards the policies adapted to each task.

Each task's φ_i comes from K vanilla policy-gradient steps on fresh rollouts (see
:mod:`metarl.agents.adaptation`); the outer update is ``θ ← θ + ε · mean_i(φ_i − θ)``, through the
core's :func:`~metarl.core.reptile_direction` and an SGD (or Adam) step of rate ε.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from metarl.core import Params, reptile_direction
from metarl.errors import ConfigError


@dataclass(frozen=True)
class ReptileSettings:
    """The Reptile outer step.

    Attributes:
        lr: outer step size ε (with "sgd": θ ← θ + ε · mean_i(φ_i − θ)).
        optimizer: "sgd" (Reptile as published) or "adam" on the pseudo-gradient.
    """

    lr: float = 1.0
    optimizer: Literal["sgd", "adam"] = "sgd"

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"reptile.lr must be > 0, got {self.lr}")


class ReptileRL:
    """Owns the outer update of ``params`` from per-task adapted parameters."""

    def __init__(self, params: Params, settings: ReptileSettings) -> None:
        self.params = params
        optimizer = torch.optim.SGD if settings.optimizer == "sgd" else torch.optim.Adam
        self.optimizer = optimizer(params.values(), lr=settings.lr)

    def step(self, adapted: Params) -> dict[str, float]:
        """``θ ← θ + ε · mean_i(φ_i − θ)`` from task-batched ``adapted``; returns the step norm."""
        with torch.no_grad():
            direction = reptile_direction(self.params, adapted)
        self.optimizer.zero_grad(set_to_none=True)
        for name, param in self.params.items():
            param.grad = -direction[name]
        self.optimizer.step()
        norm = torch.sqrt(sum((d**2).sum() for d in direction.values()))
        return {"direction_norm": float(norm)}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
