"""MAML++'s multi-step loss: its annealed weights and the weighted objective, in closed form."""

import pytest
import torch
from torch import nn

from metarl.core import InnerLoop, InnerLoopConfig, meta_objective, module_params
from metarl.core.outer import multi_step_weights

pytestmark = pytest.mark.usefixtures("double_precision")


def test_weights_start_uniform_and_end_on_the_last_step():
    assert torch.allclose(multi_step_weights(4, 0.0), torch.full((4,), 0.25))
    half = multi_step_weights(4, 0.5)
    assert torch.allclose(half[:3], torch.full((3,), 0.125))
    assert half[3] == pytest.approx(1 - 3 * 0.125)
    end = multi_step_weights(4, 2.0)
    assert torch.allclose(end[:3], torch.full((3,), 0.03 / 4))
    for progress in (0.0, 0.3, 1.0):
        assert multi_step_weights(4, progress).sum() == pytest.approx(1.0)
    assert torch.equal(multi_step_weights(1, 0.0), torch.ones(1))


def test_multi_step_loss_is_the_weighted_sum_of_per_step_query_losses(losses_for):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    params = module_params(model)
    support_loss, query_fn = losses_for(model)

    g = torch.Generator().manual_seed(1)
    support = (torch.randn(2, 5, 2, generator=g), torch.randn(2, 5, 1, generator=g))
    query = (torch.randn(2, 5, 2, generator=g), torch.randn(2, 5, 1, generator=g))
    inner = InnerLoop(params, InnerLoopConfig(steps=3, lr=0.2))
    weights = torch.tensor([0.2, 0.3, 0.5])
    losses, metrics = meta_objective(
        params, inner, support_loss, query_fn, support, query, step_weights=weights
    )
    for t in range(2):
        task_support = (support[0][t], support[1][t])
        task_query = (query[0][t], query[1][t])
        want = 0.0
        for k in range(1, 4):
            adapted = inner.adapt(params, support_loss, task_support, steps=k)
            want = want + weights[k - 1] * support_loss(adapted, task_query)
        assert losses[t].item() == pytest.approx(want.item())
        assert metrics["mse"][t].item() == pytest.approx(support_loss(adapted, task_query).item())
    last_only, _ = meta_objective(
        params,
        inner,
        support_loss,
        query_fn,
        support,
        query,
        step_weights=torch.tensor([0.0, 0.0, 1.0]),
    )
    plain, _ = meta_objective(params, inner, support_loss, query_fn, support, query)
    assert torch.allclose(last_only, plain)
