"""RL² trials: K consecutive episodes of one task with the recurrent policy's state carried over.

All envs of all tasks of a meta-batch live in one :class:`~metarl.envs.BatchedSimulator` and step
together; the policy is called once per step for all of them. A trial's hidden state starts at
zero and is kept across the episode resets inside the trial (RL², Duan et al. 2016, §2.2); the
policy also sees the previous action, reward and done flag (zeros at the trial's first step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from metarl.agents.policies import gaussian_log_prob
from metarl.agents.recurrent_policy import RecurrentGaussianPolicy
from metarl.agents.sampler import Simulator, episode_success
from metarl.envs.action_scaling import env_action

ActionMap = Callable[[Tensor], np.ndarray]
"""Turns the policy's sampled actions ``[num_envs, act_dim]`` into the actions the env steps."""


class Trials(NamedTuple):
    """One trial per env, flattened over its K episodes of T steps (``L = K·T``).

    Attributes:
        inputs: ``[N, L, input_dim]``, the GRU inputs actually fed.
        actions: ``[N, L, act_dim]`` as sampled (before the env's action map).
        rewards: ``[N, L]``; 0 on masked steps.
        mask: ``[N, L]``; 1 where a step was taken.
        log_probs: ``[N, L]`` log π_old(a_t | h_t).
        values: ``[N, L]`` V_old(h_t).
        success: ``[N, K]``; 1 where the episode's env reported ``info["success"]`` at some
            step, else 0; NaN for a family that reports no success.
    """

    inputs: Tensor
    actions: Tensor
    rewards: Tensor
    mask: Tensor
    log_probs: Tensor
    values: Tensor
    success: Tensor

    def episode_returns(self, episodes: int) -> Tensor:
        """Undiscounted return of each episode of each trial, ``[N, episodes]``."""
        return (self.rewards * self.mask).view(self.rewards.shape[0], episodes, -1).sum(-1)

    def steps(self) -> int:
        """Number of environment steps taken."""
        return int(self.mask.sum().item())


def scaled_actions(simulator: Simulator, action_scale: float = 1.0) -> ActionMap:
    """The action map of :class:`~metarl.agents.sampler.RolloutSampler`: the env gets
    ``clip(a / action_scale, low, high)`` (:func:`~metarl.envs.action_scaling.env_action`)."""
    low, high = simulator.action_low, simulator.action_high
    return lambda action: env_action(action.numpy(), action_scale, low, high)


@torch.no_grad()
def run_trials(
    policy: RecurrentGaussianPolicy,
    simulator: Simulator,
    horizon: int,
    seed: int,
    noise: Tensor,
    to_env: ActionMap,
) -> Trials:
    """One trial in every env of ``simulator``, ``noise [K, T, num_envs, act_dim]`` fixing the
    action noise (K episodes of ``T = horizon`` steps). The envs are reset with ``seed`` before
    the first episode and continue their generators at the later resets."""
    episodes, n, act_dim = noise.shape[0], simulator.num_envs, simulator.action_dim
    length = episodes * horizon
    inputs = torch.zeros(length, n, policy.input_dim)
    actions = torch.zeros(length, n, act_dim)
    rewards, mask, log_probs, values = (torch.zeros(length, n) for _ in range(4))
    success = torch.zeros(episodes, n)
    state = policy.initial_state(n)
    previous = torch.zeros(n, act_dim + 2)  # a_{t-1}, r_{t-1}, d_{t-1}
    for k in range(episodes):
        obs = _tensor(simulator.reset(seed=seed) if k == 0 else simulator.reset())
        alive = torch.ones(n, dtype=torch.bool)
        for t in range(horizon):
            i = k * horizon + t
            inputs[i] = torch.cat([obs, previous], -1)
            mean, log_std, values[i], state = policy.step(inputs[i], state, alive)
            actions[i] = mean + torch.exp(log_std) * noise[k, t]
            log_probs[i] = gaussian_log_prob(mean, log_std, actions[i])
            mask[i] = alive.float()
            next_obs, reward, terminated, truncated = simulator.step(to_env(actions[i]))
            rewards[i] = _tensor(reward) * mask[i]
            done = torch.as_tensor(np.logical_or(terminated, truncated))
            step = torch.cat([actions[i], rewards[i, :, None], done[:, None].float()], -1)
            previous = torch.where(alive[:, None], step, previous)
            alive &= ~done
            obs = _tensor(next_obs)
            if not alive.any():
                break
        success[k] = _tensor(episode_success(simulator))
    fields = (inputs, actions, rewards, mask, log_probs, values, success)
    return Trials(*(x.transpose(0, 1).contiguous() for x in fields))


def sample_trials(
    policy: RecurrentGaussianPolicy,
    simulator: Simulator,
    episodes: int,
    horizon: int,
    rng: np.random.Generator,
    action_scale: float = 1.0,
) -> Trials:
    """:func:`run_trials` with the env seed and the action noise drawn from ``rng``, acting
    through :func:`scaled_actions`."""
    generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
    shape = (episodes, horizon, simulator.num_envs, simulator.action_dim)
    noise = torch.randn(shape, generator=generator)
    seed = int(rng.integers(2**31))
    to_env = scaled_actions(simulator, action_scale)
    return run_trials(policy, simulator, horizon, seed, noise, to_env)


def _tensor(array: np.ndarray) -> Tensor:
    return torch.as_tensor(np.asarray(array), dtype=torch.float32)
