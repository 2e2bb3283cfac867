"""The learned inner rule (Andrychowicz et al. 2016): SGD as a special case, gradients against
finite differences, state carried between steps, and meta-training that lowers the loss."""

import math

import pytest
import torch
from torch import nn

from metarl.core import (
    STATE_PREFIX,
    InnerLoop,
    InnerLoopConfig,
    MetaOptimizer,
    meta_objective,
    module_params,
    preprocess_gradient,
)
from metarl.errors import ConfigError

pytestmark = pytest.mark.usefixtures("double_precision")


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))


def regression_tasks(n_tasks: int = 3, n: int = 6, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_tasks, 2 * n, 2, generator=g)
    w = torch.randn(n_tasks, 2, 1, generator=g)
    y = x @ w
    return (x[:, :n], y[:, :n]), (x[:, n:], y[:, n:])


def randomise_readout(inner: InnerLoop, seed: int = 3) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in inner.rule.readout.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def test_preprocessing_matches_the_papers_formula():
    g = torch.tensor([2.0, -1e-3, 1e-6, -1e-7, 0.0])
    features = preprocess_gradient(g)
    p = 10.0
    expected = torch.tensor(
        [
            [math.log(2.0) / p, 1.0],
            [math.log(1e-3) / p, -1.0],
            [-1.0, math.exp(p) * 1e-6],
            [-1.0, -math.exp(p) * 1e-7],
            [-1.0, 0.0],
        ]
    )
    assert torch.allclose(features, expected)


def test_zero_readout_reproduces_sgd_and_state_is_carried(losses_for):
    model = tiny_model()
    params = module_params(model)
    support, _ = regression_tasks()
    support_loss, _ = losses_for(model)
    task = (support[0][0], support[1][0])
    sgd = InnerLoop(params, InnerLoopConfig(steps=3, lr=0.1))
    learned = InnerLoop(params, InnerLoopConfig(steps=3, lr=0.1, rule="learned"))
    want = sgd.adapt(params, support_loss, task)
    got = learned.adapt(params, support_loss, task)
    assert set(got) == set(params)
    for name in params:
        assert torch.allclose(got[name], want[name], atol=1e-12)
        assert not torch.allclose(got[name], params[name])
    one_step = learned.step(params, support_loss, task, 0)
    states = {k: v for k, v in one_step.items() if k.startswith(STATE_PREFIX)}
    assert set(states) == {STATE_PREFIX + name for name in params}
    assert states[STATE_PREFIX + "0.weight"].shape == (6, 4, 20)
    assert states[STATE_PREFIX + "0.weight"].abs().sum() > 0


def test_learned_rule_differs_from_sgd_once_its_readout_is_nonzero(losses_for):
    model = tiny_model()
    params = module_params(model)
    support, _ = regression_tasks()
    support_loss, _ = losses_for(model)
    task = (support[0][0], support[1][0])
    learned = InnerLoop(params, InnerLoopConfig(steps=2, lr=0.1, rule="learned"))
    randomise_readout(learned)
    sgd = InnerLoop(params, InnerLoopConfig(steps=2, lr=0.1)).adapt(params, support_loss, task)
    got = learned.adapt(params, support_loss, task)
    assert not torch.allclose(got["0.weight"], sgd["0.weight"])


def test_meta_gradient_of_the_rule_matches_finite_differences(losses_for):
    model = tiny_model()
    params = module_params(model)
    inner = InnerLoop(params, InnerLoopConfig(steps=3, lr=0.1, rule="learned", lstm_hidden=4))
    randomise_readout(inner)
    support, query = regression_tasks()
    support_loss, query_fn = losses_for(model)
    rule_params = dict(inner.rule.named_parameters())

    def objective() -> torch.Tensor:
        losses, _ = meta_objective(params, inner, support_loss, query_fn, support, query, False)
        return losses.mean()

    names = ["layer1.weight", "layer2.bias", "readout.weight", "lr"]
    analytic = torch.autograd.grad(objective(), [rule_params[n] for n in names])
    theta_grad = torch.autograd.grad(objective(), [params["0.weight"]])[0]
    eps = 1e-6
    with torch.no_grad():
        for name, grad in zip(names, analytic, strict=True):
            p = rule_params[name].view(-1)
            for i in range(min(4, p.numel())):
                p[i] += eps
                up = objective()
                p[i] -= 2 * eps
                down = objective()
                p[i] += eps
                assert grad.view(-1)[i] == pytest.approx(((up - down) / (2 * eps)).item(), abs=1e-7)
        w = params["0.weight"].view(-1)
        for i in range(3):
            w[i] += eps
            up = objective()
            w[i] -= 2 * eps
            down = objective()
            w[i] += eps
            assert theta_grad.view(-1)[i] == pytest.approx(
                ((up - down) / (2 * eps)).item(), abs=1e-7
            )


def test_vmapped_and_looped_learned_rule_agree(losses_for):
    model = tiny_model()
    params = module_params(model)
    inner = InnerLoop(params, InnerLoopConfig(steps=2, lr=0.1, rule="learned", lstm_hidden=4))
    randomise_readout(inner)
    support, query = regression_tasks()
    support_loss, query_fn = losses_for(model)
    looped = inner.step_tasks(params, support_loss, support, 0, False, vectorize=False)
    looped = inner.step_tasks(looped, support_loss, support, 1, True, vectorize=False)
    vmapped = inner.step_tasks(params, support_loss, support, 0, False, vectorize=True)
    vmapped = inner.step_tasks(vmapped, support_loss, support, 1, True, vectorize=True)
    assert set(looped) == set(vmapped)
    for name in looped:
        assert torch.allclose(looped[name], vmapped[name], atol=1e-12)
    adapted = inner.adapt_tasks(params, support_loss, support, vectorize=True)
    assert torch.allclose(adapted["2.bias"], looped["2.bias"], atol=1e-12)


def test_truncation_cuts_the_gradient_to_the_initialisation(losses_for):
    model = tiny_model()
    params = module_params(model)
    support, query = regression_tasks()
    support_loss, query_fn = losses_for(model)
    config = InnerLoopConfig(steps=3, lr=0.1, rule="learned", truncation=2)
    inner = InnerLoop(params, config)
    losses, _ = meta_objective(params, inner, support_loss, query_fn, support, query)
    grads = torch.autograd.grad(
        losses.mean(), [params["0.weight"], inner.rule.lr], allow_unused=True
    )
    assert grads[0] is None
    assert grads[1] != 0


def test_meta_training_the_rule_lowers_the_post_adaptation_loss(losses_for):
    """With a tiny inner step, SGD barely moves; the learned rule learns to take larger steps."""
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    params = module_params(model)
    for p in params.values():
        p.requires_grad_(False)
    inner = InnerLoop(params, InnerLoopConfig(steps=3, lr=0.01, rule="learned", lstm_hidden=8))
    outer = MetaOptimizer(params, inner, "maml", outer_lr=0.03, vectorize=False)
    support_loss, query_fn = losses_for(model)
    held_out = regression_tasks(n_tasks=20, seed=99)

    def held_out_loss() -> float:
        with torch.no_grad():
            losses, _ = meta_objective(params, inner, support_loss, query_fn, *held_out)
        return losses.mean().item()

    before = held_out_loss()
    for seed in range(10):
        outer.step(support_loss, query_fn, *regression_tasks(n_tasks=4, seed=seed))
    after = held_out_loss()
    assert after < 0.5 * before


def test_bad_learned_rule_configs_are_refused():
    with pytest.raises(ConfigError, match="unknown inner rule"):
        InnerLoopConfig(rule="rmsprop")
    with pytest.raises(ConfigError, match="own step"):
        InnerLoopConfig(rule="learned", step_size="per_step")
    params = module_params(tiny_model())
    inner = InnerLoop(params, InnerLoopConfig(rule="learned", first_order=True))
    with pytest.raises(ConfigError, match="learned inner rule"):
        MetaOptimizer(params, inner, "reptile", outer_lr=0.1)
