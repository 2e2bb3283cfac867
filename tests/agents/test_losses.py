"""Policy-gradient pieces against closed forms: REINFORCE gradient, returns, GAE, baseline."""

import math

import pytest
import torch

from metarl.agents.baseline import baseline_features, fit_linear_baseline
from metarl.agents.episodes import discounted_returns, gae, normalize_per_task
from metarl.agents.losses import SurrogateQuery, reinforce_loss, surrogate
from metarl.agents.policies import GaussianMLPPolicy, gaussian_kl, gaussian_log_prob
from metarl.core import make_functional, module_params

pytestmark = pytest.mark.usefixtures("double_precision")


def tiny_episodes(episodes: int = 3, steps: int = 5, obs_dim: int = 2, act_dim: int = 2):
    g = torch.Generator().manual_seed(0)
    observations = torch.randn(episodes, steps, obs_dim, generator=g)
    actions = torch.randn(episodes, steps, act_dim, generator=g)
    advantages = torch.randn(episodes, steps, generator=g)
    mask = torch.ones(episodes, steps)
    mask[0, 3:] = 0  # the first episode ended after 3 steps
    return observations, actions, advantages, mask


class TinyEpisodes:
    def __init__(self, observations, actions, advantages, mask):
        self.observations, self.actions = observations, actions
        self.advantages, self.mask = advantages, mask


def test_reinforce_gradient_matches_closed_form_score_function():
    policy = GaussianMLPPolicy(2, 2, hidden=(3,), init_std=0.7).double()
    params = module_params(policy)
    observations, actions, advantages, mask = tiny_episodes()
    loss = reinforce_loss(make_functional(policy))(
        params, TinyEpisodes(observations, actions, advantages, mask)
    )
    grads = torch.autograd.grad(loss, [params["mean.bias"], params["log_std"]])
    with torch.no_grad():
        mean, log_std = policy(observations)
        var = torch.exp(2 * log_std)
        weight = (advantages * mask / mask.sum()).unsqueeze(-1)
        # ∂ log N(a; μ, σ²)/∂μ = (a − μ)/σ²;  ∂/∂ log σ = (a − μ)²/σ² − 1
        expected_bias = -(weight * (actions - mean) / var).sum((0, 1))
        expected_log_std = -(weight * ((actions - mean) ** 2 / var - 1)).sum((0, 1))
    torch.testing.assert_close(grads[0], expected_bias)
    torch.testing.assert_close(grads[1], expected_log_std)


def test_gaussian_log_prob_and_kl_closed_forms():
    mean, log_std = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.1, -0.3]])
    action = torch.tensor([[1.0, 0.0]])
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(
        gaussian_log_prob(mean, log_std, action), normal.log_prob(action).sum(-1)
    )
    other = torch.distributions.Normal(mean + 0.3, (log_std - 0.2).exp())
    expected = torch.distributions.kl_divergence(normal, other).sum(-1)
    torch.testing.assert_close(gaussian_kl(mean, log_std, mean + 0.3, log_std - 0.2), expected)


def test_surrogate_at_old_policy_has_reinforce_gradient_and_zero_kl():
    policy = GaussianMLPPolicy(2, 2, hidden=(3,)).double()
    params = module_params(policy)
    data = TinyEpisodes(*tiny_episodes())
    loss, metrics = surrogate(make_functional(policy))(params, SurrogateQuery(data))
    reinforce = reinforce_loss(make_functional(policy))(params, data)
    g_surrogate = torch.autograd.grad(loss, list(params.values()))
    g_reinforce = torch.autograd.grad(reinforce, list(params.values()))
    for a, b in zip(g_surrogate, g_reinforce, strict=True):
        torch.testing.assert_close(a, b)
    assert metrics["kl"].item() == pytest.approx(0.0, abs=1e-12)


def test_discounted_returns_and_gae_closed_forms():
    rewards = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    gamma = 0.9
    returns = discounted_returns(rewards, mask, gamma)
    expected = torch.tensor([[1 + 0.9 * 2 + 0.81 * 3, 2 + 0.9 * 3, 3.0, 0.0]])
    torch.testing.assert_close(returns, expected)
    values = torch.tensor([[0.5, -0.2, 1.0, 7.0]])  # the value after the end is ignored
    # λ = 1: advantages are returns minus the baseline; λ = 0: one-step TD errors.
    torch.testing.assert_close(gae(rewards, values, mask, gamma, 1.0), (expected - values) * mask)
    td = torch.tensor([[1 + 0.9 * -0.2 - 0.5, 2 + 0.9 * 1.0 + 0.2, 3 - 1.0, 0.0]])
    torch.testing.assert_close(gae(rewards, values, mask, gamma, 0.0), td)


def test_normalize_per_task_uses_only_taken_steps():
    advantages = torch.tensor([[[1.0, 3.0, 100.0]], [[2.0, 2.0, 4.0]]])
    mask = torch.tensor([[[1.0, 1.0, 0.0]], [[1.0, 1.0, 1.0]]])
    normalized = normalize_per_task(advantages, mask)
    torch.testing.assert_close(normalized[0, 0], torch.tensor([-1.0, 1.0, 0.0]), atol=1e-6, rtol=0)
    taken = normalized[1][mask[1].bool()]
    assert taken.mean().abs() < 1e-9 and taken.std(unbiased=False) == pytest.approx(1, abs=1e-6)


def test_linear_baseline_recovers_targets_in_its_feature_span():
    g = torch.Generator().manual_seed(3)
    observations = torch.randn(2, 4, 6, 3, generator=g)  # [tasks, E, T, obs]
    features = baseline_features(observations)
    assert features.shape == (2, 4, 6, 2 * 3 + 4)
    weights = torch.randn(2, features.shape[-1], generator=g)
    returns = torch.einsum("tesf,tf->tes", features, weights)
    values = fit_linear_baseline(observations, returns, torch.ones(2, 4, 6), reg=1e-10)
    torch.testing.assert_close(values, returns, atol=1e-5, rtol=1e-5)
    assert math.isfinite(values.sum().item())
