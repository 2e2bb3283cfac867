"""Explicit parameter dictionaries and the helpers to move between them and modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree

Params = dict[str, Tensor]
"""Named parameters, as ``nn.Module.named_parameters()`` gives them."""

STATE_PREFIX = "inner_state:"
"""Keys of a ``Params`` dict that start with this carry a learned inner rule's per-task state
(e.g. LSTM hidden states) from one inner step to the next; models never see them."""


def model_params(params: Mapping[str, Tensor]) -> Params:
    """``params`` without the inner-rule state entries (see :data:`STATE_PREFIX`)."""
    return {name: p for name, p in params.items() if not name.startswith(STATE_PREFIX)}


def module_params(model: nn.Module) -> Params:
    """The module's parameters as a name → tensor dict (the tensors themselves, not copies)."""
    return dict(model.named_parameters())


def make_functional(model: nn.Module) -> Callable[[Params, Any], Any]:
    """A function ``f(params, *inputs)`` that runs ``model`` with the given parameters.

    Buffers stay those of the model; inner-rule state entries of ``params`` are ignored. Works
    under ``torch.func.grad`` and ``torch.func.vmap``.
    """

    def call(params: Mapping[str, Tensor], *inputs: Any) -> Any:
        return torch.func.functional_call(model, model_params(params), inputs)

    return call


def tree_index(tree: Any, index: int) -> Any:
    """The ``index``-th entry along the leading dimension of every tensor in a pytree."""
    return pytree.tree_map(lambda x: x[index], tree)


def tree_stack(trees: list[Any]) -> Any:
    """Stack pytrees of equal structure along a new leading dimension."""
    leaves, spec = zip(*(pytree.tree_flatten(t) for t in trees), strict=True)
    stacked = [torch.stack(column) for column in zip(*leaves, strict=True)]
    return pytree.tree_unflatten(stacked, spec[0])


def leading_size(tree: Any) -> int:
    """The size of the leading (task) dimension shared by every tensor in a pytree."""
    sizes = {leaf.shape[0] for leaf in pytree.tree_leaves(tree)}
    if len(sizes) != 1:
        raise ValueError(f"tensors disagree on the leading (task) dimension: {sorted(sizes)}")
    return sizes.pop()
