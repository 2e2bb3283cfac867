"""Correctness of the meta-optimizer core: gradients against finite differences and closed forms."""

import pytest
import torch
from torch import nn

from metarl.core import (
    InnerLoop,
    InnerLoopConfig,
    MetaOptimizer,
    PerStep,
    backward_task_by_task,
    meta_objective,
    module_params,
    task_objective,
)
from metarl.errors import ConfigError

pytestmark = pytest.mark.usefixtures("double_precision")


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()


def make_task_batch(n_tasks: int = 3, n: int = 5, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n_tasks, n, 2, generator=g, dtype=torch.float64)
    ys = torch.randn(n_tasks, n, 1, generator=g, dtype=torch.float64)
    xq = torch.randn(n_tasks, n, 2, generator=g, dtype=torch.float64)
    yq = torch.randn(n_tasks, n, 1, generator=g, dtype=torch.float64)
    return (xs, ys), (xq, yq)


def meta_grad(params, inner, support, query, support_loss, query_fn, vectorize=True):
    losses, _ = meta_objective(params, inner, support_loss, query_fn, support, query, vectorize)
    names = list(params)
    grads = torch.autograd.grad(losses.mean(), [params[n] for n in names])
    return dict(zip(names, grads, strict=True))


def flat(params):
    return torch.cat([p.reshape(-1) for p in params.values()])


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_meta_gradient_matches_finite_differences(steps, losses_for):
    model = tiny_model()
    params = module_params(model)
    inner = InnerLoop(params, InnerLoopConfig(steps=steps, lr=0.3))
    support, query = make_task_batch()
    support_loss, query_fn = losses_for(model)
    analytic = flat(meta_grad(params, inner, support, query, support_loss, query_fn))

    def objective(vector):
        chunks, offset = {}, 0
        for name, p in params.items():
            chunks[name] = vector[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
        losses, _ = meta_objective(chunks, inner, support_loss, query_fn, support, query)
        return losses.mean()

    theta = flat(params).detach()
    eps = 1e-6
    numeric = torch.stack(
        [
            (objective(theta + eps * e) - objective(theta - eps * e)) / (2 * eps)
            for e in torch.eye(theta.numel())
        ]
    )
    torch.testing.assert_close(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_first_order_drops_exactly_the_second_order_term(losses_for):
    """One step: MAML grad = (I − αH_s(θ)) ∇L_q(φ); FOMAML grad = ∇L_q(φ)."""
    model = tiny_model()
    params = module_params(model)
    alpha = 0.3
    support, query = make_task_batch(n_tasks=1)
    support_loss, query_fn = losses_for(model)
    names = list(params)
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]

    def unflat(vector):
        return {n: c.view(s) for n, c, s in zip(names, vector.split(sizes), shapes, strict=True)}

    one_support = tuple(t[0] for t in support)
    one_query = tuple(t[0] for t in query)
    theta = flat(params).detach()
    grad_s = torch.func.grad(lambda v: support_loss(unflat(v), one_support))(theta)
    phi = theta - alpha * grad_s
    grad_q = torch.func.grad(lambda v: support_loss(unflat(v), one_query))(phi)
    hessian = torch.autograd.functional.hessian(
        lambda v: support_loss(unflat(v), one_support), theta
    )

    maml = InnerLoop(params, InnerLoopConfig(steps=1, lr=alpha))
    fomaml = InnerLoop(params, InnerLoopConfig(steps=1, lr=alpha, first_order=True))
    g_maml = flat(meta_grad(params, maml, support, query, support_loss, query_fn))
    g_fo = flat(meta_grad(params, fomaml, support, query, support_loss, query_fn))

    torch.testing.assert_close(g_fo, grad_q)
    torch.testing.assert_close(g_maml, grad_q - alpha * hessian @ grad_q)
    assert (g_maml - g_fo).abs().max() > 1e-4  # the second-order term is really there


def test_vmapped_and_sequential_meta_batches_agree(losses_for):
    model = tiny_model()
    params = module_params(model)
    support, query = make_task_batch(n_tasks=4)
    support_loss, query_fn = losses_for(model)
    for config in (
        InnerLoopConfig(steps=2, lr=0.1),
        InnerLoopConfig(steps=2, lr=0.1, step_size="per_parameter"),
        InnerLoopConfig(steps=2, lr=0.1, step_size="per_step", adapt_only=("2.",)),
    ):
        inner = InnerLoop(params, config)
        fast = meta_grad(params, inner, support, query, support_loss, query_fn, vectorize=True)
        slow = meta_grad(params, inner, support, query, support_loss, query_fn, vectorize=False)
        for name in params:
            torch.testing.assert_close(fast[name], slow[name])
        a_fast = inner.adapt_tasks(params, support_loss, support, vectorize=True)
        a_slow = inner.adapt_tasks(params, support_loss, support, vectorize=False)
        for name in params:
            torch.testing.assert_close(a_fast[name], a_slow[name])


def test_task_by_task_backward_accumulates_the_mean_losses_gradient(losses_for):
    model = tiny_model()
    params = module_params(model)
    support, query = make_task_batch(n_tasks=4)
    support_loss, query_fn = losses_for(model)
    inner = InnerLoop(params, InnerLoopConfig(steps=2, lr=0.1, step_size="per_step"))
    weights = torch.tensor([0.4, 0.6])
    trained = [*params.values(), *inner.parameters()]
    losses, metrics = meta_objective(
        params, inner, support_loss, query_fn, support, query, False, weights
    )
    want = torch.autograd.grad(losses.mean(), trained)

    def task_loss(task):
        task_support = (support[0][task], support[1][task])
        task_query = (query[0][task], query[1][task])
        return task_objective(
            params, inner, support_loss, query_fn, task_support, task_query, weights
        )

    got_losses, got_metrics = backward_task_by_task(task_loss, 4)
    torch.testing.assert_close(got_losses, losses.detach(), rtol=0, atol=0)
    torch.testing.assert_close(got_metrics["mse"], metrics["mse"], rtol=0, atol=0)
    assert not got_losses.requires_grad
    for tensor, expected in zip(trained, want, strict=True):
        torch.testing.assert_close(tensor.grad, expected, rtol=1e-12, atol=1e-14)
    assert any(expected.abs().max() > 0 for expected in want[len(params) :])  # the rates learn


def test_reptile_on_quadratic_matches_closed_form():
    """L_i(θ) = a/2 ||θ − c_i||²: K SGD steps give φ_i = c_i + (1 − αa)^K (θ − c_i)."""
    a, alpha, steps, epsilon = 2.0, 0.1, 3, 0.5
    theta = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    centers = torch.tensor([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-1.0, 2.0, 2.0]])
    params = {"theta": theta}

    def loss(p, c):
        return 0.5 * a * ((p["theta"] - c) ** 2).sum()

    def query_fn(p, c):
        value = loss(p, c)
        return value, {}

    inner = InnerLoop(params, InnerLoopConfig(steps=steps, lr=alpha, first_order=True))
    outer = MetaOptimizer(params, inner, "reptile", outer_lr=epsilon, optimizer="sgd")
    before = theta.detach().clone()
    outer.step(loss, query_fn, centers, centers)
    shrink = (1 - alpha * a) ** steps
    phis = centers + shrink * (before - centers)
    expected = before + epsilon * (phis - before).mean(0)
    torch.testing.assert_close(theta.detach(), expected)


def test_anil_adapts_only_the_head_but_meta_gradient_reaches_the_body(losses_for):
    model = tiny_model()
    params = module_params(model)
    support, query = make_task_batch()
    support_loss, query_fn = losses_for(model)
    inner = InnerLoop(params, InnerLoopConfig(steps=2, lr=0.3, adapt_only=("2.",)))
    assert inner.adapted_names == ["2.weight", "2.bias"]
    adapted = inner.adapt_tasks(params, support_loss, support)
    for name in ("0.weight", "0.bias"):
        torch.testing.assert_close(adapted[name], params[name].expand_as(adapted[name]))
    for name in ("2.weight", "2.bias"):
        assert (adapted[name] - params[name]).abs().max() > 1e-3
    grads = meta_grad(params, inner, support, query, support_loss, query_fn)
    assert grads["0.weight"].abs().max() > 0


def test_meta_sgd_step_size_gradient_matches_closed_form(losses_for):
    """One step with α per entry: dL_q(θ − α∘g)/dα = −g ∘ ∇L_q(φ)."""
    model = tiny_model()
    params = module_params(model)
    support, query = make_task_batch(n_tasks=1)
    support_loss, query_fn = losses_for(model)
    inner = InnerLoop(params, InnerLoopConfig(steps=1, lr=0.2, step_size="per_parameter"))
    losses, _ = meta_objective(params, inner, support_loss, query_fn, support, query)
    alphas = [inner.step_sizes[n.replace(".", "__")] for n in params]
    d_alpha = torch.autograd.grad(losses.mean(), alphas)
    one_support = tuple(t[0] for t in support)
    one_query = tuple(t[0] for t in query)
    g = torch.func.grad(support_loss)(params, one_support)
    phi = {n: params[n] - 0.2 * g[n] for n in params}
    gq = torch.func.grad(support_loss)(phi, one_query)
    for name, got in zip(params, d_alpha, strict=True):
        torch.testing.assert_close(got, -g[name] * gq[name])


def test_per_step_data_and_step_sizes():
    params = {"w": torch.tensor([1.0], requires_grad=True)}
    inner = InnerLoop(params, InnerLoopConfig(steps=2, lr=0.5, step_size="per_step"))
    with torch.no_grad():
        inner.step_sizes["w"].copy_(torch.tensor([0.5, 0.25]))

    def loss(p, target):  # gradient is (w − target)
        return 0.5 * ((p["w"] - target) ** 2).sum()

    out = inner.adapt(params, loss, PerStep([torch.tensor(3.0), torch.tensor(-1.0)]))
    # step 0: w = 1 − 0.5(1 − 3) = 2; step 1: w = 2 − 0.25(2 + 1) = 1.25
    torch.testing.assert_close(out["w"], torch.tensor([1.25]))
    # steps beyond those trained reuse the last step size
    out = inner.adapt(params, loss, torch.tensor(0.0), steps=3)
    torch.testing.assert_close(out["w"], torch.tensor([0.5 * 0.75 * 0.75]))


def test_maml_outer_step_reduces_the_meta_loss(losses_for):
    model = tiny_model()
    params = module_params(model)
    support, query = make_task_batch()
    support_loss, query_fn = losses_for(model)
    inner = InnerLoop(params, InnerLoopConfig(steps=1, lr=0.1))
    outer = MetaOptimizer(params, inner, "maml", outer_lr=0.01)
    first = outer.step(support_loss, query_fn, support, query)
    for _ in range(20):
        last = outer.step(support_loss, query_fn, support, query)
    assert last["loss"] < first["loss"]
    assert set(first) == {"loss", "mse"}


def test_bad_configurations_raise_config_errors():
    params = {"w": torch.zeros(1, requires_grad=True)}
    with pytest.raises(ConfigError, match="step_size"):
        InnerLoopConfig(step_size="adaptive")
    with pytest.raises(ConfigError, match="matches no parameter"):
        InnerLoop(params, InnerLoopConfig(adapt_only=("head.",)))
    inner = InnerLoop(params, InnerLoopConfig())
    with pytest.raises(ConfigError, match="first-order"):
        MetaOptimizer(params, inner, "fomaml", outer_lr=0.1)
    with pytest.raises(ConfigError, match="unknown meta algorithm"):
        MetaOptimizer(params, inner, "mamll", outer_lr=0.1)
