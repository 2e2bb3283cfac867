"""The inner loop's Adam rule (Reptile's inner optimizer) against ``torch.optim.Adam``, and
per-step data mapped over a meta-batch."""

import pytest
import torch
from torch import nn

from metarl.core import (
    InnerLoop,
    InnerLoopConfig,
    PerStep,
    adam_update,
    make_functional,
    module_params,
)
from metarl.errors import ConfigError

pytestmark = pytest.mark.usefixtures("double_precision")


@pytest.mark.parametrize("betas", [(0.0, 0.999), (0.9, 0.99)])
def test_adam_update_matches_torch_adam_on_the_same_gradients(betas):
    generator = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 2, generator=generator) for _ in range(4)]
    grads[2][0, 0] = 0.0  # a zero gradient: the update there is the moment's alone
    weight = torch.randn(3, 2, generator=generator)
    reference = weight.clone().requires_grad_()
    optimizer = torch.optim.Adam([reference], lr=0.01, betas=betas, eps=1e-8)
    state = None
    for count, grad in enumerate(grads, start=1):
        delta, state = adam_update(grad, state, count, 0.01, betas, 1e-8)
        weight = weight + delta
        reference.grad = grad.clone()
        optimizer.step()
        assert torch.allclose(weight, reference.detach(), rtol=0, atol=1e-12)
    assert state.shape == (2, 3, 2)


def test_adam_inner_loop_follows_torch_adam_on_the_task_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    params = {name: p.detach().clone() for name, p in module_params(model).items()}
    f = make_functional(model)
    x, y = torch.randn(8, 2), torch.randn(8, 1)

    def loss(p, data):
        return ((f(p, data[0]) - data[1]) ** 2).mean()

    config = InnerLoopConfig(steps=5, lr=0.05, rule="adam", first_order=True)
    adapted = InnerLoop(params, config).adapt(params, loss, (x, y))
    reference = {name: p.clone().requires_grad_() for name, p in params.items()}
    optimizer = torch.optim.Adam(reference.values(), lr=0.05, betas=(0.0, 0.999))
    for _ in range(5):
        optimizer.zero_grad()
        loss(reference, (x, y)).backward()
        optimizer.step()
    assert set(adapted) == set(params)  # the Adam state is not returned
    for name, value in adapted.items():
        assert torch.allclose(value, reference[name].detach(), atol=1e-12), name


def test_per_step_data_maps_over_tasks_vmapped_as_in_a_loop():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    params = module_params(model)
    f = make_functional(model)

    def loss(p, data):
        return ((f(p, data[0]) - data[1]) ** 2).mean()

    inner = InnerLoop(params, InnerLoopConfig(steps=3, lr=0.1))
    data = PerStep((torch.randn(4, 5, 2), torch.randn(4, 5, 1)) for _ in range(3))
    results = [
        inner.adapt_tasks(params, loss, data, vectorize=vectorize) for vectorize in (True, False)
    ]
    for name in params:
        assert torch.allclose(results[0][name], results[1][name])
    # Step k used minibatch k: the first task, adapted by hand.
    task = dict(params)
    for k in range(3):
        task = inner.step(task, loss, (data[k][0][0], data[k][1][0]), k)
    for name in params:
        assert torch.allclose(results[1][name][0], task[name])


@pytest.mark.parametrize("betas", [(0.0, 0.999), (0.9, 0.99)])
def test_carried_adam_continues_one_torch_adam_from_task_to_task(betas):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    params = {name: p.detach().clone() for name, p in module_params(model).items()}
    f = make_functional(model)

    def loss(p, data):
        return ((f(p, data[0]) - data[1]) ** 2).mean()

    generator = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(3, 6, 2, generator=generator), torch.randn(3, 6, 1, generator=generator))
    ]
    batches.append(
        (torch.randn(2, 6, 2, generator=generator), torch.randn(2, 6, 1, generator=generator))
    )
    config = InnerLoopConfig(
        steps=2, lr=0.05, rule="adam", first_order=True, adam_betas=betas, adam_carry=True
    )
    inner = InnerLoop(params, config)
    # supervised-reptile: one optimizer, never reset; only the weights return to θ per task.
    reference = {name: p.clone().requires_grad_() for name, p in params.items()}
    optimizer = torch.optim.Adam(reference.values(), lr=0.05, betas=betas)
    for batch in batches:  # two meta-batches: the state carries across calls too
        adapted = inner.adapt_tasks(params, loss, batch)
        for task in range(batch[0].shape[0]):
            with torch.no_grad():
                for name, value in reference.items():
                    value.copy_(params[name])
            for _ in range(2):
                optimizer.zero_grad()
                loss(reference, (batch[0][task], batch[1][task])).backward()
                optimizer.step()
            for name, value in reference.items():
                torch.testing.assert_close(adapted[name][task], value.detach(), rtol=0, atol=1e-12)
    assert int(inner.carried_steps) == 10

    # Evaluation adapts from the carried state and leaves it as it is; a checkpoint keeps it.
    before = {key: value.clone() for key, value in inner.state_dict().items()}
    task = (batches[0][0][0], batches[0][1][0])
    evaluated = inner.adapt(params, loss, task)
    after = inner.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    fresh = InnerLoop(params, config)
    assert not torch.equal(fresh.adapt(params, loss, task)["0.weight"], evaluated["0.weight"])
    fresh.load_state_dict(after)
    torch.testing.assert_close(fresh.adapt(params, loss, task), evaluated, rtol=0, atol=0)


def test_adam_carry_needs_the_adam_rule():
    with pytest.raises(ConfigError, match="adam_carry needs the adam inner rule"):
        InnerLoopConfig(rule="sgd", adam_carry=True)
