"""Trust-region policy optimisation step (Schulman et al. 2015) on an arbitrary differentiable
surrogate and mean KL, as MAML-RL uses for its outer update (Finn et al. 2017, §5.3;
pytorch-maml-rl ``metalearners/maml_trpo.py``, ``utils/optimization.py``).

The step direction solves ``(H + damping·I) s = g`` by conjugate gradient with products of the
KL's Hessian ``H``, is scaled so that ``½ sᵀ H s = max_kl``, and is then shrunk by backtracking
until the surrogate improves and the KL stays within ``max_kl``.

Two products compute the same ``H v``: :func:`kl_hessian_vector_product` differentiates ``∇KL · v``
once more (the reference code's double backward), and :func:`gaussian_fisher_product` uses the
Gauss-Newton form ``Jᵀ F J v`` — ``J`` the Jacobian of the policy's Gaussian ``(mean, log σ)`` on
the KL's observations, ``F`` the Gaussian's analytic Fisher — with one forward-mode ``jvp`` and one
``vjp``. They agree at the old parameters, where the KL and its gradient vanish, which is the only
point TRPO evaluates the product at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from metarl.core import Params
from metarl.errors import ConfigError

FisherProduct = Literal["gauss_newton", "double_backward"]
FISHER_PRODUCTS: tuple[str, ...] = ("gauss_newton", "double_backward")


@dataclass(frozen=True)
class TRPOSettings:
    """Settings of a TRPO step (defaults: the MAML paper and pytorch-maml-rl configs).

    Attributes:
        max_kl: trust-region radius δ on the mean KL(π_old ‖ π_new).
        cg_iters: conjugate-gradient iterations.
        cg_damping: added to the Hessian of the KL, ``(H + damping·I) v``.
        ls_max_steps: backtracking line-search trials.
        ls_backtrack_ratio: step shrink factor per trial.
        fisher_fraction: fraction of each task's query episodes the KL's curvature (the
            conjugate-gradient products) is averaged over; 1 uses all of them, as the MAML paper.
            The adaptation always uses every support episode, and the gradient and the line
            search's KL check every query episode (rllab's ``subsample_factor``).
        fisher_product: "double_backward" (``∇(∇KL · v)``, the reference code's product) or
            "gauss_newton" (``Jᵀ F J v``, forward- and reverse-mode); equal values. The default
            was the faster of the two at the reference config (docs/bench_trpo.md).
    """

    max_kl: float = 0.01
    cg_iters: int = 10
    cg_damping: float = 1e-5
    ls_max_steps: int = 15
    ls_backtrack_ratio: float = 0.8
    fisher_fraction: float = 1.0
    fisher_product: FisherProduct = "double_backward"

    def __post_init__(self) -> None:
        if self.max_kl <= 0 or self.cg_damping < 0 or self.cg_iters < 1 or self.ls_max_steps < 1:
            raise ConfigError(f"trpo needs max_kl > 0, cg_damping >= 0 and >= 1 iterations: {self}")
        if not 0 < self.ls_backtrack_ratio < 1:
            raise ConfigError(f"trpo.ls_backtrack_ratio must be in (0, 1): {self}")
        if not 0 < self.fisher_fraction <= 1:
            raise ConfigError(f"trpo.fisher_fraction must be in (0, 1]: {self}")
        if self.fisher_product not in FISHER_PRODUCTS:
            raise ConfigError(f"trpo.fisher_product must be one of {FISHER_PRODUCTS}: {self}")


def conjugate_gradient(
    matvec: Callable[[Tensor], Tensor], b: Tensor, iters: int, tol: float = 1e-10
) -> Tensor:
    """Approximately solve ``A x = b`` for symmetric positive-definite ``A`` given ``v ↦ A v``."""
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    rr = residual.dot(residual)
    for _ in range(iters):
        if rr < tol:
            break
        product = matvec(direction)
        alpha = rr / direction.dot(product)
        x += alpha * direction
        residual -= alpha * product
        rr_new = residual.dot(residual)
        direction = residual + (rr_new / rr) * direction
        rr = rr_new
    return x


def kl_hessian_vector_product(kl: Tensor, params: Sequence[Tensor]) -> Callable[[Tensor], Tensor]:
    """``v ↦ ∇²KL v`` by double backward (the graph of ``kl`` is kept)."""
    grads = torch.autograd.grad(kl, params, create_graph=True)
    flat_grad = _flat(grads)

    def product(vector: Tensor) -> Tensor:
        return _flat(torch.autograd.grad(flat_grad.dot(vector), params, retain_graph=True))

    return product


def gaussian_fisher_product(
    outputs: Callable[[Params], tuple[Tensor, Tensor]], params: Params, mask: Tensor
) -> Callable[[Tensor], Tensor]:
    """``v ↦ Jᵀ F J v``: the Hessian of the mean KL(π_old ‖ π) at ``π = π_old``, Gauss-Newton form.

    Args:
        outputs: ``params -> (mean, log_std)``, each ``[tasks, ..., act_dim]``, the diagonal
            Gaussian policy on the observations the KL averages over (vmappable, jvp-able).
        params: the leaf tensors ``θ`` the product is taken in (flattened in this order).
        mask: ``[tasks, ...]``, 1 on the steps the KL averages over; the KL is the masked mean
            over each task's steps, then the mean over tasks (as in the surrogate's ``kl``).

    For KL(N(μ, σ²) ‖ N(μ', σ'²)) summed over action dimensions, the Hessian in ``(μ', log σ')``
    at ``μ' = μ, σ' = σ`` is ``diag(1/σ², 2)``; the KL's gradient there is 0, so the second-order
    term of the chain rule vanishes and ``∇²_θ KL = Jᵀ F J`` exactly.
    """
    tensors = list(params.values())
    mean, log_std = outputs(params)
    dims = tuple(range(1, mask.dim()))
    weight = (mask / mask.sum(dims, keepdim=True).clamp(min=1) / mask.shape[0]).unsqueeze(-1)
    mean_weight = (torch.exp(-2 * log_std.detach()) * weight).detach()
    log_std_weight = (2 * weight).detach()
    primals = ({name: value.detach() for name, value in params.items()},)

    def product(vector: Tensor) -> Tensor:
        _, (d_mean, d_log_std) = torch.func.jvp(outputs, primals, (_unflat(vector, params),))
        cotangents = (d_mean * mean_weight, d_log_std * log_std_weight)
        grads = torch.autograd.grad((mean, log_std), tensors, cotangents, retain_graph=True)
        return _flat(grads)

    return product


def trpo_step(
    params: Sequence[Tensor],
    loss: Tensor,
    curvature: Callable[[Tensor], Tensor],
    evaluate: Callable[[], tuple[Tensor, Tensor]],
    settings: TRPOSettings,
) -> dict[str, float]:
    """Update ``params`` in place by one TRPO step.

    Args:
        params: the leaf tensors optimised.
        loss: the surrogate loss at the current parameters (with its graph).
        curvature: ``v ↦ ∇²KL v``, the Hessian of the mean KL(π_old ‖ π) at the current
            parameters (:func:`kl_hessian_vector_product` or :func:`gaussian_fisher_product`).
        evaluate: ``() -> (loss, kl)`` at whatever values ``params`` hold, without a graph.
        settings: radius, CG and line-search settings.

    Returns:
        ``loss_before``, ``loss_after``, ``kl_after``, the accepted ``step_fraction`` (0 when
        the line search failed and the parameters were restored), the norm of the loss's gradient
        (``grad_norm``: non-finite when the gradient is, which the training loop reports), and
        the seconds spent on the direction (gradient and conjugate gradient, ``direction_s``)
        and the line search.
    """
    started = time.perf_counter()
    params = list(params)
    grads = torch.autograd.grad(loss, params, retain_graph=True)
    gradient = _flat(grads)

    def hvp(vector: Tensor) -> Tensor:
        return curvature(vector) + settings.cg_damping * vector

    direction = conjugate_gradient(hvp, gradient, settings.cg_iters)
    model_kl = 0.5 * direction.dot(hvp(direction))
    step = direction * torch.sqrt(settings.max_kl / model_kl.clamp(min=1e-12))
    old = _flat(params).detach().clone()
    loss_before = loss.item()
    timings = {"grad_norm": gradient.norm().item(), "direction_s": time.perf_counter() - started}
    started = time.perf_counter()
    fraction = 1.0
    with torch.no_grad():
        for _ in range(settings.ls_max_steps):
            _assign(old - fraction * step, params)
            new_loss, new_kl = evaluate()
            if new_loss.item() < loss_before and new_kl.item() <= settings.max_kl:
                return {
                    "loss_before": loss_before,
                    "loss_after": new_loss.item(),
                    "kl_after": new_kl.item(),
                    "step_fraction": fraction,
                    **timings,
                    "line_search_s": time.perf_counter() - started,
                }
            fraction *= settings.ls_backtrack_ratio
        _assign(old, params)
    return {
        "loss_before": loss_before,
        "loss_after": loss_before,
        "kl_after": 0.0,
        "step_fraction": 0.0,
        **timings,
        "line_search_s": time.perf_counter() - started,
    }


def _flat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat(vector: Tensor, like: Params) -> Params:
    shaped, offset = {}, 0
    for name, value in like.items():
        shaped[name] = vector[offset : offset + value.numel()].view_as(value)
        offset += value.numel()
    return shaped


def _assign(vector: Tensor, params: Sequence[Tensor]) -> None:
    offset = 0
    for param in params:
        param.copy_(vector[offset : offset + param.numel()].view_as(param))
        offset += param.numel()
