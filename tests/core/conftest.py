"""Fixtures of the core's tests."""

from collections.abc import Callable

import pytest
from torch import nn

from metarl.core import make_functional


@pytest.fixture
def losses_for() -> Callable:
    """``losses_for(model) -> (support_loss, query_fn)``: mean-squared error of ``model`` on
    ``(x, y)``, as the inner loop's task loss and as the query loss with its metric."""

    def build(model: nn.Module):
        f = make_functional(model)

        def support_loss(params, data):
            x, y = data
            return ((f(params, x) - y) ** 2).mean()

        def query_fn(params, data):
            loss = support_loss(params, data)
            return loss, {"mse": loss.detach()}

        return support_loss, query_fn

    return build
