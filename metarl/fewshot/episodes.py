"""Few-shot episodes: a support set to adapt on and a query set to evaluate on.

Episodic training as in Vinyals et al. 2016, "Matching Networks for One Shot Learning", used by
MAML (Finn et al. 2017) and Prototypical Networks (Snell et al. 2017).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from metarl.errors import ConfigError


@dataclass(frozen=True)
class Episode:
    """One few-shot task, or a batch of them with a leading task dimension on every field.

    Registered as a pytree, so an ``Episode`` can be passed straight to ``torch.func.vmap``.

    Attributes:
        support_x: Inputs the learner adapts on.
        support_y: Targets (regression values or int64 class labels) of ``support_x``.
        query_x: Inputs the adapted learner is evaluated on.
        query_y: Targets of ``query_x``.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor


torch.export.register_dataclass(Episode)


def stack_episodes(episodes: list[Episode]) -> Episode:
    """Stack single episodes of equal shapes into a batch along a new leading task dimension."""
    if not episodes:
        raise ConfigError("stack_episodes needs at least one episode, got an empty list")
    return Episode(
        **{
            field.name: torch.stack([getattr(e, field.name) for e in episodes])
            for field in dataclasses.fields(Episode)
        }
    )


def require_positive(**counts: int) -> None:
    """Raise ``ConfigError`` naming the first count (e.g. ``shots=0``) that is not an int >= 1."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {name}={value!r}")


def minibatch_indices(
    n_examples: int, steps: int, batch: int, generator: torch.Generator
) -> Tensor:
    """``[steps, batch]`` indices into ``n_examples`` examples: consecutive minibatches of
    reshuffled passes over them (a batch may straddle two passes), as Reptile's code draws
    its inner minibatches."""
    passes = -(-steps * batch // n_examples)
    order = torch.cat([torch.randperm(n_examples, generator=generator) for _ in range(passes)])
    return order[: steps * batch].reshape(steps, batch)


def support_minibatches(episodes: Episode, indices: Tensor) -> list[Episode]:
    """One episode per inner step whose support set is that step's minibatch.

    ``episodes`` has a leading task dimension; ``indices`` is ``[tasks, steps, batch]`` (or
    ``[steps, batch]``, the same for every task). The query sets are kept as they are.
    """
    tasks = episodes.support_x.shape[0]
    indices = indices.expand(tasks, *indices.shape[-2:])
    rows = torch.arange(tasks)[:, None]
    return [
        dataclasses.replace(
            episodes,
            support_x=episodes.support_x[rows, step],
            support_y=episodes.support_y[rows, step],
        )
        for step in indices.unbind(1)
    ]
