"""A learned inner-loop update rule: the coordinate-wise LSTM optimizer of Andrychowicz et al.
2016, "Learning to learn by gradient descent by gradient descent".

Every coordinate of every adapted tensor is one entry of a batch fed to the same small two-layer
LSTM (shared weights, separate hidden states), so the rule has a few thousand parameters whatever
the size of the model. Gradients are preprocessed as in the paper's appendix A,

    g ↦ (log|g| / p, sign g)   if |g| ≥ e^{−p},    (−1, e^p · g)   otherwise,   p = 10,

and the update is ``Δθ = −α·g + output_scale · W h`` with a learned step ``α`` (initialised to the
inner learning rate) and a readout ``W`` initialised to zero, so the rule starts as plain SGD and
meta-training only has to learn the correction. It knows nothing about the task: it sees
gradients and returns updates.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

PREPROCESS_P = 10.0
"""The paper's p: gradients below e^{−p} in magnitude are scaled instead of log-encoded."""


def preprocess_gradient(grad: Tensor, p: float = PREPROCESS_P) -> Tensor:
    """The two input features of each coordinate of ``grad``: ``[numel, 2]``."""
    g = grad.reshape(-1, 1)
    big = g.abs() >= math.exp(-p)
    log_part = torch.where(big, g.abs().clamp_min(math.exp(-p)).log() / p, -torch.ones_like(g))
    sign_part = torch.where(big, torch.sign(g), math.exp(p) * g)
    return torch.cat([log_part, sign_part], dim=1)


class CoordinateLSTM(nn.Module):
    """The two-layer coordinate-wise LSTM and its linear readout.

    Args:
        lr: initial value of the learned SGD step α.
        hidden: LSTM width per layer (20 in the paper).
        output_scale: factor on the LSTM readout (0.1 in the paper).
    """

    def __init__(self, lr: float, hidden: int = 20, output_scale: float = 0.1) -> None:
        super().__init__()
        self.hidden = hidden
        self.output_scale = output_scale
        self.layer1 = nn.Linear(2 + hidden, 4 * hidden)
        self.layer2 = nn.Linear(2 * hidden, 4 * hidden)
        self.readout = nn.Linear(hidden, 1)
        nn.init.zeros_(self.readout.weight)
        nn.init.zeros_(self.readout.bias)
        self.lr = nn.Parameter(torch.tensor(float(lr)))

    def initial_state(self, param: Tensor) -> Tensor:
        """Zero hidden and cell states of both layers for ``param``: ``[numel, 4, hidden]``."""
        return param.new_zeros(param.numel(), 4, self.hidden)

    def forward(self, grad: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """``(update shaped like grad, next state)`` from a gradient and the previous state."""
        h1, c1, h2, c2 = state.unbind(1)
        h1, c1 = _lstm_cell(self.layer1, preprocess_gradient(grad), h1, c1)
        h2, c2 = _lstm_cell(self.layer2, h1, h2, c2)
        correction = self.output_scale * self.readout(h2).reshape(grad.shape)
        return -self.lr * grad + correction, torch.stack([h1, c1, h2, c2], dim=1)


def _lstm_cell(layer: nn.Linear, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM cell step with input and recurrent weights fused in ``layer`` (vmappable)."""
    i, f, g, o = layer(torch.cat([x, h], dim=1)).chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c
