"""The recurrent Gaussian policy of RL² (Duan et al. 2016): a GRU over (s, a_prev, r_prev, done).

The GRU's hidden state carries what the agent saw in earlier episodes of a trial; a linear head
gives the action mean, a second linear head the value estimate (used by PPO), and log σ is a
learned state-independent vector, as in garage's ``GaussianGRUPolicy``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class RecurrentGaussianPolicy(nn.Module):
    """π(a_t | h_t) = N(μ(h_t), diag(σ²)), ``h_t = GRU(x_t, h_{t−1})``, value ``V(h_t)``.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        hidden: GRU state size.
        init_std: initial σ.
        seed: seeds the weight initialisation.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: int = 64, init_std: float = 1.0, seed: int = 0
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, hidden
        self.gru = nn.GRU(self.input_dim, hidden, batch_first=True)
        self.mean = nn.Linear(hidden, act_dim)
        self.value = nn.Linear(hidden, 1)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))
        generator = torch.Generator().manual_seed(seed)
        for name, weight in self.named_parameters():
            if name == "log_std":
                continue
            if weight.dim() == 2:
                nn.init.xavier_uniform_(weight, generator=generator)
            else:
                nn.init.zeros_(weight)

    @property
    def input_dim(self) -> int:
        """Size of the GRU input: observation, previous action, previous reward, done flag."""
        return self.obs_dim + self.act_dim + 2

    def initial_state(self, batch: int) -> Tensor:
        """The hidden state at the start of a trial (zeros), ``[batch, hidden]``."""
        return torch.zeros(batch, self.hidden)

    def step(self, inputs: Tensor, state: Tensor, alive: Tensor) -> tuple[Tensor, ...]:
        """One step for a batch: ``(mean, log_std, value, next_state)``.

        Args:
            inputs: ``[batch, input_dim]``.
            state: ``[batch, hidden]``.
            alive: ``[batch]`` bool; where False the state is carried over unchanged.
        """
        updated = self.gru(inputs.unsqueeze(1), state.unsqueeze(0))[1].squeeze(0)
        state = torch.where(alive.unsqueeze(-1), updated, state)
        mean = self.mean(state)
        return mean, self.log_std.expand_as(mean), self.value(state).squeeze(-1), state

    def unroll(
        self, inputs: Tensor, mask: Tensor, state: Tensor, bptt: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Run whole trials, ``inputs [batch, L, input_dim]``, ``mask [batch, L]``.

        As in :meth:`step`, masked steps leave the state unchanged, so each trial's taken steps
        are moved to the front (in order) and run through the fused GRU; the outputs go back to
        their positions (masked positions get arbitrary values). Gradients flow back at most
        ``bptt`` taken steps: the state is detached every ``bptt`` steps (truncated
        backpropagation through time). Returns ``(mean, log_std, value)`` over ``[batch, L]``.
        """
        order = torch.sort(mask > 0, dim=1, descending=True, stable=True).indices
        packed = inputs.gather(1, order.unsqueeze(-1).expand_as(inputs))
        chunks, state = [], state.unsqueeze(0)
        for start in range(0, inputs.shape[1], bptt):
            output, state = self.gru(packed[:, start : start + bptt], state)
            chunks.append(output)
            state = state.detach()
        hidden = torch.empty(*mask.shape, self.hidden, dtype=packed.dtype)
        hidden = hidden.scatter(1, order.unsqueeze(-1).expand_as(hidden), torch.cat(chunks, 1))
        mean = self.mean(hidden)
        return mean, self.log_std.expand_as(mean), self.value(hidden).squeeze(-1)
