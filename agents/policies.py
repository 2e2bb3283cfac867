"""The Gaussian MLP policy of MAML-RL, used functionally so every task can have its own parameters.

Finn et al. 2017 (§5.3 and appendix A.2) use a tanh MLP with two hidden layers of 100 units, a
linear mean head and a state-independent log standard deviation; this is pytorch-maml-rl's
``policies/normal_mlp.py`` (``NormalMLPPolicy``). The module structure matches Stable-Baselines3's
``MlpPolicy`` actor (``mlp_extractor.policy_net`` → ``body``, ``action_net`` → ``mean``,
``log_std``), so a PPO-pretrained actor loads into it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from metarl.core import Params, make_functional, map_tasks


class GaussianMLPPolicy(nn.Module):
    """π(a|s) = N(μ_θ(s), diag(σ²)) with a tanh MLP mean and a learned, state-independent log σ.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        hidden: widths of the hidden layers (MAML paper: 100, 100).
        init_std: initial σ (pytorch-maml-rl: 1.0).
        min_std: lower bound on σ, for numerical safety (pytorch-maml-rl: 1e-6).
        seed: seeds the Xavier-uniform weight initialisation (biases start at zero).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (100, 100),
        init_std: float = 1.0,
        min_std: float = 1e-6,
        seed: int = 0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.Tanh()]
            width = size
        self.body = nn.Sequential(*layers)
        self.mean = nn.Linear(width, act_dim)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))
        self.min_log_std = math.log(min_std)
        generator = torch.Generator().manual_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)

    def forward(self, observations: Tensor) -> tuple[Tensor, Tensor]:
        """The mean and log σ of the action distribution, both shaped ``[..., act_dim]``."""
        mean = self.mean(self.body(observations))
        log_std = self.log_std.clamp(min=self.min_log_std).expand_as(mean)
        return mean, log_std


def gaussian_log_prob(mean: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """log N(actions; mean, diag(exp(log_std)²)), summed over the action dimension."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_kl(old_mean: Tensor, old_log_std: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """KL(N_old ‖ N_new) of diagonal Gaussians, summed over the action dimension."""
    old_var = torch.exp(2 * old_log_std)
    var = torch.exp(2 * log_std)
    kl = log_std - old_log_std + (old_var + (old_mean - mean).pow(2)) / (2 * var) - 0.5
    return kl.sum(-1)


class TaskPolicies:
    """Evaluates one policy module under per-task parameters in a single vmapped call.

    ``params`` either are shared by all tasks or carry a leading task dimension (adapted
    parameters); observations are ``[tasks, ..., obs_dim]``.
    """

    def __init__(self, policy: GaussianMLPPolicy, vectorize: bool = True) -> None:
        self.policy = policy
        self.call = make_functional(policy)
        self.vectorize = vectorize

    def __call__(
        self, params: Params, observations: Tensor, params_batched: bool
    ) -> tuple[Tensor, Tensor]:
        """``(mean, log_std)``, each ``[tasks, ..., act_dim]``."""
        return map_tasks(self.call, (params, observations), (params_batched, True), self.vectorize)
