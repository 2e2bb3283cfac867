"""Run one per-task function over a meta-batch: vmapped in one call, or one task at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from metarl.core.params import leading_size, tree_index, tree_stack


def map_tasks(
    fn: Callable[..., Any],
    args: Sequence[Any],
    batched: Sequence[bool],
    vectorize: bool = True,
) -> Any:
    """Apply ``fn`` to every task of a meta-batch and stack the results along a task dimension.

    Args:
        fn: per-task function of ``len(args)`` pytrees of tensors.
        args: the arguments; those marked in ``batched`` carry a leading task dimension.
        batched: for each argument, whether it is indexed by task (``True``) or shared.
        vectorize: one ``torch.func.vmap`` call over tasks when ``True``, a Python loop otherwise.
            Both give the same values; the loop is the reference and the fallback for
            functions that cannot be vmapped.

    Returns:
        ``fn``'s outputs with a leading task dimension.
    """
    if len(args) != len(batched):
        raise ValueError(f"{len(args)} arguments but {len(batched)} batched flags")
    if not any(batched):
        raise ValueError("at least one argument must carry the task dimension")
    if vectorize:
        in_dims = tuple(0 if b else None for b in batched)
        return torch.func.vmap(fn, in_dims=in_dims)(*args)
    n_tasks = leading_size([a for a, b in zip(args, batched, strict=True) if b])
    outputs = []
    for task in range(n_tasks):
        task_args = [tree_index(a, task) if b else a for a, b in zip(args, batched, strict=True)]
        outputs.append(fn(*task_args))
    return tree_stack(outputs)
