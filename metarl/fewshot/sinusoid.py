"""Sinusoid regression tasks of Finn et al. 2017, "Model-Agnostic Meta-Learning", §5.1.

Each task is ``y = A·sin(x − φ)`` with amplitude ``A ~ U[0.1, 5.0]``, phase ``φ ~ U[0, π]`` and
inputs ``x ~ U[−5, 5]``, as in the reference code (github.com/cbfinn/maml, ``data_generator.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from metarl.errors import ConfigError
from metarl.fewshot.episodes import Episode, require_positive


@dataclass(frozen=True)
class Sinusoids:
    """The true functions of a batch of sinusoid tasks, e.g. to plot them.

    Attributes:
        amplitude: ``A`` of each task, float32 ``[n_tasks]``.
        phase: ``φ`` of each task, float32 ``[n_tasks]``.
    """

    amplitude: Tensor
    phase: Tensor

    def __call__(self, x: Tensor) -> Tensor:
        """``A·sin(x − φ)`` for inputs ``x`` of shape ``[n_tasks, n, 1]``."""
        return self.amplitude[:, None, None] * torch.sin(x - self.phase[:, None, None])


@dataclass(frozen=True)
class SinusoidTasks:
    """The sinusoid task distribution; the defaults are those of the MAML paper.

    Attributes:
        amplitude: ``(low, high)`` of the uniform amplitude distribution.
        phase: ``(low, high)`` of the uniform phase distribution, in radians.
        x_range: ``(low, high)`` of the uniform input distribution.
    """

    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)

    def __post_init__(self) -> None:
        for name in ("amplitude", "phase", "x_range"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ConfigError(f"{name} must be (low, high) with low <= high, got {(low, high)}")

    def sample(self, rng: np.random.Generator, n_tasks: int, shots: int, queries: int) -> Episode:
        """Float32 episodes: support ``[n_tasks, shots, 1]``, query ``[n_tasks, queries, 1]``."""
        return self.sample_with_functions(rng, n_tasks, shots, queries)[0]

    def sample_with_functions(
        self, rng: np.random.Generator, n_tasks: int, shots: int, queries: int
    ) -> tuple[Episode, Sinusoids]:
        """Like ``sample`` (same draws from the same ``rng`` state), plus the true functions."""
        require_positive(n_tasks=n_tasks, shots=shots, queries=queries)
        functions = Sinusoids(
            amplitude=uniform(rng, self.amplitude, (n_tasks,)),
            phase=uniform(rng, self.phase, (n_tasks,)),
        )
        x = uniform(rng, self.x_range, (n_tasks, shots + queries, 1))
        y = functions(x)
        episode = Episode(x[:, :shots], y[:, :shots], x[:, shots:], y[:, shots:])
        return episode, functions


def uniform(
    rng: np.random.Generator, bounds: tuple[float, float], shape: tuple[int, ...]
) -> Tensor:
    """Float32 draws from ``U[low, high]``."""
    return torch.from_numpy(rng.uniform(*bounds, shape).astype(np.float32))
