"""PPO on whole RL² trials: GAE over the trial, clipped surrogate, value loss, entropy bonus.

A trial is one long episode to the learner (the episode resets inside it are part of the
environment the recurrent policy adapts to), so advantages bootstrap across episode boundaries
and stop only at the trial's end (Duan et al. 2016, §2.2; garage ``RL2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from metarl.agents.policies import gaussian_log_prob
from metarl.agents.recurrent_policy import RecurrentGaussianPolicy
from metarl.agents.rl2_rollout import Trials
from metarl.errors import ConfigError


@dataclass(frozen=True)
class RL2Settings:
    """RL² with PPO (defaults: garage's ``rl2_ppo_halfcheetah`` example, which uses K = 4, and
    SB3's PPO).

    Attributes:
        episodes_per_trial: K, episodes of one task the hidden state persists over.
        trials_per_task: parallel trials of each task of a meta-batch.
        hidden: GRU state size.
        init_std: initial action σ.
        learning_rate: Adam step size.
        epochs: passes over the iteration's trials.
        minibatch_trials: trials per minibatch.
        clip_range: PPO's ε.
        gae_lambda: GAE λ over the whole trial.
        value_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.
        max_grad_norm: gradient-norm clip.
        bptt: truncated BPTT length in steps (the hidden state is detached every ``bptt`` steps).
        normalize_advantages: centre and scale the advantages of each minibatch.
        reward_scale: rewards are multiplied by this for learning (advantages and value
            targets; the logged returns are unscaled), keeping the value loss of the shared
            recurrent trunk on the scale of the policy loss.
        target_kl: stop an iteration's epochs at the first minibatch whose approximate KL from
            the sampling policy exceeds ``1.5 · target_kl``, before its update (SB3's rule);
            None: always run every epoch.
    """

    episodes_per_trial: int = 2
    trials_per_task: int = 1
    hidden: int = 64
    init_std: float = 1.0
    learning_rate: float = 1e-3
    epochs: int = 10
    minibatch_trials: int = 32
    clip_range: float = 0.2
    gae_lambda: float = 0.95
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float = 0.5
    bptt: int = 100
    normalize_advantages: bool = True
    reward_scale: float = 1.0
    target_kl: float | None = None

    def __post_init__(self) -> None:
        sizes = (self.episodes_per_trial, self.trials_per_task, self.hidden, self.epochs)
        if min(*sizes, self.minibatch_trials, self.bptt) < 1:
            raise ConfigError(f"rl2 sizes must be >= 1: {self}")
        positive = (self.init_std, self.learning_rate, self.clip_range, self.max_grad_norm)
        if min(*positive, self.reward_scale) <= 0:
            raise ConfigError(f"rl2 needs positive init_std, learning_rate, clip_range: {self}")
        if not 0 <= self.gae_lambda <= 1 or min(self.value_coef, self.entropy_coef) < 0:
            raise ConfigError(f"rl2 needs gae_lambda in [0, 1], coefficients >= 0: {self}")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ConfigError(f"rl2.target_kl must be positive (or absent), got {self.target_kl}")


def trial_advantages(
    trials: Trials, gamma: float, lam: float, reward_scale: float = 1.0
) -> tuple[Tensor, Tensor]:
    """GAE advantages and value targets ``[N, L]`` over each whole trial, of the rewards
    multiplied by ``reward_scale``.

    Masked steps (after an early termination) are skipped: the next valid step's value and
    advantage carry over them; the value after the trial's last step is 0.
    """
    rewards, values, mask = trials.rewards * reward_scale, trials.values, trials.mask > 0
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros(rewards.shape[0])
    next_advantage = torch.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        advantages[:, t] = torch.where(mask[:, t], advantage, 0.0)
        next_value = torch.where(mask[:, t], values[:, t], next_value)
        next_advantage = torch.where(mask[:, t], advantage, next_advantage)
    return advantages, (advantages + values) * trials.mask


def ppo_loss(
    policy: RecurrentGaussianPolicy,
    trials: Trials,
    advantages: Tensor,
    returns: Tensor,
    settings: RL2Settings,
) -> tuple[Tensor, dict[str, float]]:
    """The PPO loss of a minibatch of trials, recomputing the policy along each trial with
    truncated BPTT; returns the loss and its parts."""
    mask = trials.mask
    count = mask.sum().clamp(min=1)
    if settings.normalize_advantages:
        mean = (advantages * mask).sum() / count
        std = (((advantages - mean) * mask).pow(2).sum() / count).sqrt()
        advantages = (advantages - mean) / (std + 1e-8) * mask
    state = policy.initial_state(mask.shape[0])
    mean, log_std, values = policy.unroll(trials.inputs, mask, state, settings.bptt)
    log_ratio = gaussian_log_prob(mean, log_std, trials.actions) - trials.log_probs
    ratio = torch.exp(log_ratio)
    clipped = ratio.clamp(1 - settings.clip_range, 1 + settings.clip_range)
    surrogate = (torch.minimum(ratio * advantages, clipped * advantages) * mask).sum() / count
    value_loss = ((values - returns).pow(2) * mask).sum() / count
    entropy = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
    entropy = (entropy * mask).sum() / count
    loss = -surrogate + settings.value_coef * value_loss - settings.entropy_coef * entropy
    approx_kl = (((ratio - 1) - log_ratio) * mask).sum() / count
    parts = {
        "surrogate": surrogate.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy.item(),
        "approx_kl": approx_kl.item(),
    }
    return loss, parts
