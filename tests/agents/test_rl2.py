"""RL²: memory across the episodes of a trial, PPO's recurrent loss gradient, batched rollouts,
the fused unroll against step-by-step acting, and GAE over a whole trial."""

import math

import numpy as np
import torch

from metarl.agents.recurrent_policy import RecurrentGaussianPolicy
from metarl.agents.rl2_ppo import RL2Settings, ppo_loss, trial_advantages
from metarl.agents.rl2_rollout import Trials, run_trials, scaled_actions
from metarl.envs import BatchedSimulator, make_task_distribution


class SignBandit:
    """One-step episodes with reward ``sign · a`` (``a`` clipped to [−1, 1]); the sign is the
    task. A policy that ignores the past earns 0 on average over the two signs."""

    observation_dim, action_dim = 1, 1
    action_low, action_high = np.array([-1.0]), np.array([1.0])

    def __init__(self, signs: list[float]) -> None:
        self.signs = np.asarray(signs)
        self.num_envs = len(signs)

    def reset(self, seed: int | None = None) -> np.ndarray:
        return np.zeros((self.num_envs, 1))

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        ones = np.ones(self.num_envs, dtype=bool)
        return np.zeros((self.num_envs, 1)), self.signs * actions[:, 0], ones, ~ones


def remembering_policy() -> RecurrentGaussianPolicy:
    """Acts +0.5 first; afterwards ``h = tanh(10 · r_prev)`` and ``μ = 2h + 0.5``: the sign of
    the previous reward (hence of the task) is remembered in the one-unit hidden state."""
    policy = RecurrentGaussianPolicy(obs_dim=1, act_dim=1, hidden=1, init_std=0.1)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.zero_()
        policy.log_std.fill_(math.log(0.1))
        policy.gru.bias_ih_l0[1] = -30.0  # update gate z ≈ 0: h_t = n_t
        policy.gru.weight_ih_l0[2, 2] = 10.0  # n_t = tanh(10 · r_{t-1}); input 2 is r_{t-1}
        policy.mean.weight.fill_(2.0)
        policy.mean.bias.fill_(0.5)
    return policy


def bandit_trials(policy, signs, episodes, seed=0) -> Trials:
    simulator = SignBandit(signs)
    noise = torch.randn(episodes, 1, len(signs), 1, generator=torch.Generator().manual_seed(seed))
    return run_trials(policy, simulator, 1, 0, noise, scaled_actions(simulator))


def test_hidden_state_carries_the_previous_reward_across_episodes_and_resets_between_trials():
    signs = [1.0, -1.0] * 50
    trials = bandit_trials(remembering_policy(), signs, episodes=2)
    returns = trials.episode_returns(2)
    # Episode 1: the task is unknown; the mean over both signs is 0 (what any memoryless
    # policy earns). Episode 2 acts on the remembered sign and earns nearly the maximum, 1.
    assert abs(returns[:, 0].mean().item()) < 0.05
    assert returns[:, 1].min().item() > 0.95
    # The GRU input of episode 2 holds episode 1's action, reward and done flag.
    torch.testing.assert_close(trials.inputs[:, 1, 1], trials.actions[:, 0, 0])
    torch.testing.assert_close(trials.inputs[:, 1, 2], trials.rewards[:, 0])
    assert (trials.inputs[:, 1, 3] == 1).all()
    # A new trial starts from a zero state and zero inputs, whatever the previous trial saw:
    # its first episode is again blind (mean action 0.5 for both signs).
    again = bandit_trials(remembering_policy(), signs, episodes=1, seed=1)
    assert (again.inputs[:, 0] == 0).all()
    assert abs(again.actions[:, 0, 0].mean().item() - 0.5) < 0.05
    assert abs(again.episode_returns(1).mean().item()) < 0.05


def test_unroll_matches_stepping_and_holds_the_state_on_masked_steps():
    policy = RecurrentGaussianPolicy(obs_dim=3, act_dim=2, hidden=5, seed=1)
    inputs = torch.randn(4, 12, policy.input_dim)
    mask = torch.ones(4, 12)
    mask[1, 3:6] = 0  # an episode that terminated early, then a new one
    mask[2, 9:] = 0
    state, means, values = policy.initial_state(4), [], []
    for t in range(12):
        mean, _, value, state = policy.step(inputs[:, t], state, mask[:, t] > 0)
        means.append(mean)
        values.append(value)
    mean, _, value = policy.unroll(inputs, mask, policy.initial_state(4), bptt=5)
    keep = mask > 0
    torch.testing.assert_close(mean[keep], torch.stack(means, 1)[keep], rtol=0, atol=1e-6)
    torch.testing.assert_close(value[keep], torch.stack(values, 1)[keep], rtol=0, atol=1e-6)


def tiny_trials(policy: RecurrentGaussianPolicy, seed: int = 0) -> Trials:
    generator = torch.Generator().manual_seed(seed)
    n, length = 3, 6
    inputs = torch.randn(n, length, policy.input_dim, generator=generator)
    actions = torch.randn(n, length, policy.act_dim, generator=generator)
    mask = torch.ones(n, length)
    mask[0, 2:4] = 0
    with torch.no_grad():
        mean, log_std, values = policy.unroll(inputs, mask, policy.initial_state(n), length)
        log_probs = ((actions - mean) ** 2).sum(-1) * -0.5  # ≠ π_old: ratios far from 1
    rewards = torch.randn(n, length, generator=generator) * mask
    nan = torch.full((n, 1), float("nan"))  # one episode, no success reported
    return Trials(inputs, actions, rewards, mask, log_probs, values * mask, nan)


def test_ppo_recurrent_loss_gradient_matches_finite_differences(double_precision):
    policy = RecurrentGaussianPolicy(obs_dim=2, act_dim=1, hidden=3, init_std=0.7, seed=2)
    trials = tiny_trials(policy)
    advantages, returns = trial_advantages(trials, 0.9, 0.8)
    settings = RL2Settings(clip_range=0.3, entropy_coef=0.01, bptt=6)
    loss, _ = ppo_loss(policy, trials, advantages, returns, settings)
    names = [name for name, _ in policy.named_parameters()]
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    eps = 1e-6
    for parameter, grad in zip(policy.parameters(), grads, strict=True):
        flat, numeric = parameter.data.view(-1), torch.zeros(parameter.numel())
        for i in range(flat.numel()):
            saved = flat[i].item()
            flat[i] = saved + eps
            up = ppo_loss(policy, trials, advantages, returns, settings)[0].item()
            flat[i] = saved - eps
            down = ppo_loss(policy, trials, advantages, returns, settings)[0].item()
            flat[i] = saved
            numeric[i] = (up - down) / (2 * eps)
        torch.testing.assert_close(grad.view(-1), numeric, rtol=1e-5, atol=1e-7)
    # Truncated BPTT (bptt=2) cuts the recurrent gradient: it differs from the full one.
    truncated = RL2Settings(clip_range=0.3, entropy_coef=0.01, bptt=2)
    loss_t, _ = ppo_loss(policy, trials, advantages, returns, truncated)
    grad_hh = torch.autograd.grad(loss_t, policy.gru.weight_hh_l0)[0]
    assert not torch.allclose(grad_hh, grads[names.index("gru.weight_hh_l0")])


def test_trial_advantages_bootstrap_across_episodes_and_skip_masked_steps():
    rewards = torch.tensor([[1.0, 2.0, 0.0, 3.0]])
    values = torch.tensor([[0.5, 0.25, 9.0, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0]])
    zeros = torch.zeros(1, 4)
    trials = Trials(
        torch.zeros(1, 4, 1), zeros[..., None], rewards, mask, zeros, values * mask, zeros[:, :1]
    )
    advantages, returns = trial_advantages(trials, gamma=0.9, lam=1.0)
    # λ = 1: value targets are the discounted returns over the taken steps, 1 → 2 → 3.
    expected = torch.tensor([[1 + 0.9 * 2 + 0.81 * 3, 2 + 0.9 * 3, 0.0, 3.0]])
    torch.testing.assert_close(returns, expected)
    torch.testing.assert_close(advantages, (expected - values) * mask)


def test_batched_trials_equal_each_task_run_alone():
    tasks = make_task_distribution("Navigation2D", 0).split("train")[:3]
    policy = RecurrentGaussianPolicy(obs_dim=2, act_dim=2, hidden=8, seed=3)
    episodes, horizon, per_task, seed = 2, 7, 2, 11
    noise = torch.randn(episodes, horizon, 3 * per_task, 2, generator=torch.Generator())
    batched_sim = BatchedSimulator("Navigation2D", tasks, per_task, horizon=horizon)
    batched = run_trials(policy, batched_sim, horizon, seed, noise, scaled_actions(batched_sim))
    for i, task in enumerate(tasks):
        alone_sim = BatchedSimulator("Navigation2D", [task], per_task, horizon=horizon)
        envs = slice(i * per_task, (i + 1) * per_task)
        alone = run_trials(
            policy,
            alone_sim,
            horizon,
            seed + i * per_task,  # env j of the batch is reset with seed + j
            noise[:, :, envs],
            scaled_actions(alone_sim),
        )
        for name, a, b in zip(Trials._fields, batched, alone, strict=True):
            torch.testing.assert_close(a[envs], b, rtol=0, atol=1e-6, equal_nan=True, msg=name)
