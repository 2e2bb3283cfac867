"""TRPO's KL curvature through the inner step(s), curvature subsampling, MAML-RL with K = 2 and
learned per-step step sizes, the importance ratio on real rollouts, Reptile-RL end to end, and the
linear baseline's failure path."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from metarl.agents.baseline import BaselineFitError, fit_linear_baseline
from metarl.agents.config import RLExperiment
from metarl.agents.episodes import Episodes
from metarl.agents.evaluation import adaptation_curves, evaluation_tasks
from metarl.agents.losses import ActionDistribution, SurrogateQuery
from metarl.agents.maml import MAMLRL, _first_episodes
from metarl.agents.policies import GaussianMLPPolicy, TaskPolicies
from metarl.agents.reptile import ReptileRL
from metarl.agents.sampler import RolloutSampler
from metarl.agents.trainer import MetaRLTrainer, make_simulator
from metarl.agents.trpo import TRPOSettings, gaussian_fisher_product, kl_hessian_vector_product
from metarl.config import apply_overrides, from_dict, read_toml
from metarl.core import InnerLoop, InnerLoopConfig, module_params

CONFIGS = Path(__file__).resolve().parents[2] / "experiments"
TINY = [
    "agent.meta_batch_size=3",
    "agent.rollouts=4",
    "env.horizon=10",
    "policy.hidden=[6]",
]


def random_episodes(seed: int, tasks: int = 2, episodes: int = 4, steps: int = 3) -> Episodes:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(tasks, episodes, steps)
    mask[0, 1, 2:] = 0  # one shorter episode: the masked mean must weigh steps, not episodes
    return Episodes(
        observations=torch.randn(tasks, episodes, steps, 2, generator=g),
        actions=torch.randn(tasks, episodes, steps, 1, generator=g),
        rewards=torch.randn(tasks, episodes, steps, generator=g),
        mask=mask,
        advantages=torch.randn(tasks, episodes, steps, generator=g),
        success=torch.full((tasks, episodes), float("nan")),
    )


def tiny_learner(steps: int = 1, step_size: str = "fixed", **trpo) -> MAMLRL:
    policy = GaussianMLPPolicy(2, 1, hidden=(3,), init_std=0.8, seed=1).double()
    params = module_params(policy)
    inner = InnerLoop(params, InnerLoopConfig(steps=steps, lr=0.5, step_size=step_size))
    return MAMLRL(params, inner, TaskPolicies(policy), trpo=TRPOSettings(**trpo))


def flat_params(learner: MAMLRL) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in learner.params.values()])


def explicit_kl_hessian(learner: MAMLRL, support: list[Episodes], query: Episodes) -> torch.Tensor:
    """The Hessian in θ of the mean KL(π_old ‖ π_θ) of the policy adapted on ``support``, on the
    episodes of ``query``, with π_old the adapted policy at the current θ."""
    with torch.no_grad():
        _, metrics = learner.objective(support, SurrogateQuery(query))
    old = ActionDistribution(metrics["mean"], metrics["log_std"])
    names = list(learner.params)
    shapes = [learner.params[n].shape for n in names]
    sizes = [learner.params[n].numel() for n in names]

    def kl(flat: torch.Tensor) -> torch.Tensor:
        chunks = [c.view(s) for c, s in zip(flat.split(sizes), shapes, strict=True)]
        values = dict(zip(names, chunks, strict=True))
        saved = learner.params
        learner.params = values
        try:
            return learner.objective(support, SurrogateQuery(query, old))[1]["kl"].mean()
        finally:
            learner.params = saved

    return torch.autograd.functional.hessian(kl, flat_params(learner))


def apply(product, dim: int) -> torch.Tensor:
    return torch.stack([product(column) for column in torch.eye(dim)], dim=1)


@pytest.mark.usefixtures("double_precision")
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("product", ["gauss_newton", "double_backward"])
def test_kl_hessian_product_through_the_inner_steps_is_the_explicit_hessian(steps, product):
    learner = tiny_learner(steps, fisher_product=product)
    support = [random_episodes(seed) for seed in range(1, steps + 1)]
    query = random_episodes(9)
    expected = explicit_kl_hessian(learner, support, query)
    _, metrics = learner.objective(support, SurrogateQuery(query))
    curvature = learner.curvature(support, query, metrics["kl"].mean())
    matrix = apply(curvature, expected.shape[0])
    torch.testing.assert_close(matrix, expected, atol=1e-10, rtol=1e-8)
    assert expected.abs().max() > 1e-3  # the Hessian is not trivially zero
    # the product is taken through the inner step: the plain policy's Fisher differs
    no_inner = tiny_learner(0)
    plain = explicit_kl_hessian(no_inner, [], query)
    assert (plain - expected).abs().max() > 1e-3 * expected.abs().max()


def real_rollouts(steps: int) -> tuple[MAMLRL, list[Episodes], Episodes, MetaRLTrainer]:
    raw = read_toml(CONFIGS / "navigation2d_maml.toml")
    config = from_dict(RLExperiment, apply_overrides(raw, [*TINY, f"agent.inner_steps={steps}"]))
    trainer = MetaRLTrainer(config)
    rng = np.random.default_rng(0)
    tasks = trainer.tasks.sample(config.agent.meta_batch_size, rng)
    simulator = make_simulator(config, tasks, config.agent.rollouts, seed=3)
    sampler = RolloutSampler(simulator, len(tasks), config.env.horizon)
    result = trainer.adaptation.run(sampler, trainer.params, steps, rng)
    assert isinstance(trainer.learner, MAMLRL)
    return trainer.learner, result.episodes[:-1], result.episodes[-1], trainer


@pytest.mark.parametrize("steps", [1, 2])
def test_gauss_newton_product_equals_double_backward_on_real_rollouts(steps):
    learner, support, query, _ = real_rollouts(steps)
    _, metrics = learner.objective(support, SurrogateQuery(query))
    kl = metrics["kl"].mean()
    reference = kl_hessian_vector_product(kl, list(learner.params.values()))
    outputs = learner.adapted_policy(support, query.observations)
    fast = gaussian_fisher_product(outputs, learner.params, query.mask)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        vector = torch.randn(flat_params(learner).numel(), generator=g)
        expected = reference(vector)
        torch.testing.assert_close(fast(vector), expected, rtol=1e-4, atol=1e-6 * expected.norm())


@pytest.mark.usefixtures("double_precision")
@pytest.mark.parametrize("product", ["gauss_newton", "double_backward"])
def test_fisher_fraction_subsamples_only_the_query_episodes(product):
    support, query = [random_episodes(1)], random_episodes(2)
    full = tiny_learner(fisher_product=product)
    dim = flat_params(full).numel()
    # fraction 1: bit-identical to the product on every query episode
    _, metrics = full.objective(support, SurrogateQuery(query))
    if product == "double_backward":
        kl = metrics["kl"].mean()
        direct = kl_hessian_vector_product(kl, list(full.params.values()))
    else:
        outputs = full.adapted_policy(support, query.observations)
        direct = gaussian_fisher_product(outputs, full.params, query.mask)
    curvature = full.curvature(support, query, metrics["kl"].mean())
    assert torch.equal(apply(curvature, dim), apply(direct, dim))
    # a fraction: the full-support adapted policy's KL Hessian on the first episodes of the query
    half = tiny_learner(fisher_product=product, fisher_fraction=0.5)
    matrix = apply(half.curvature(support, query), dim)
    subset = _first_episodes(query, 2)
    torch.testing.assert_close(matrix, explicit_kl_hessian(half, support, subset))
    # ... not that of the policy adapted on the first support episodes only (the old behaviour)
    cut_support = explicit_kl_hessian(half, [_first_episodes(support[0], 2)], subset)
    assert (matrix - cut_support).abs().max() > 1e-3 * matrix.abs().max()
    assert (matrix - apply(curvature, dim)).abs().max() > 1e-3 * matrix.abs().max()


@pytest.mark.usefixtures("double_precision")
def test_maml_with_two_inner_steps_and_learned_per_step_sizes_matches_finite_differences(
    central_differences,
):
    learner = tiny_learner(steps=2, step_size="per_step")
    with torch.no_grad():
        learner.inner.step_sizes["mean__weight"].copy_(torch.tensor([0.3, 0.7]))
    support = [random_episodes(1), random_episodes(2)]
    query_episodes = random_episodes(3)
    with torch.no_grad():
        _, metrics = learner.objective(support, SurrogateQuery(query_episodes))
    query = SurrogateQuery(query_episodes, ActionDistribution(metrics["mean"], metrics["log_std"]))
    tensors = [*learner.params.values(), *learner.inner.step_sizes.values()]
    losses, _ = learner.objective(support, query)
    analytic = torch.cat([g.reshape(-1) for g in torch.autograd.grad(losses.mean(), tensors)])

    def mean_loss() -> float:
        return learner.objective(support, query)[0].mean().item()

    numeric = central_differences(mean_loss, tensors)
    torch.testing.assert_close(analytic, numeric, atol=1e-7, rtol=1e-5)
    # the step sizes of both steps get a (different, non-zero) gradient
    sizes = analytic[-sum(s.numel() for s in learner.inner.step_sizes.values()) :]
    assert (sizes.abs() > 1e-6).sum() >= 2


@pytest.mark.parametrize("steps", [1, 2])
def test_importance_ratio_is_one_on_real_rollouts(steps):
    """The differentiable recomputation of the adapted policy is the policy that sampled."""
    learner, support, query, trainer = real_rollouts(steps)
    rng = np.random.default_rng(0)
    config = trainer.config
    tasks = trainer.tasks.sample(config.agent.meta_batch_size, rng)
    simulator = make_simulator(config, tasks, config.agent.rollouts, seed=3)
    sampler = RolloutSampler(simulator, len(tasks), config.env.horizon)
    sampled = trainer.adaptation.run(sampler, trainer.params, steps, rng)
    with torch.no_grad():
        mean, log_std = learner.policies(sampled.adapted, query.observations, True)
        losses, metrics = learner.objective(
            support, SurrogateQuery(query, ActionDistribution(mean, log_std))
        )
    torch.testing.assert_close(metrics["mean"], mean, rtol=1e-5, atol=1e-6)
    assert metrics["kl"].abs().max() < 1e-8
    advantage = (query.advantages * query.mask).sum((1, 2)) / query.mask.sum((1, 2))
    torch.testing.assert_close(losses, -advantage, rtol=1e-4, atol=1e-6)  # ratio 1 everywhere


def test_reptile_rl_trains_end_to_end():
    raw = read_toml(CONFIGS / "navigation2d_reptile.toml")
    config = from_dict(RLExperiment, apply_overrides(raw, TINY))
    trainer = MetaRLTrainer(config)
    assert isinstance(trainer.learner, ReptileRL)
    lr = config.reptile.lr
    before = {n: p.detach().clone() for n, p in trainer.params.items()}
    # the same iteration's adaptation, replayed on a copy, gives the φ_i Reptile moves towards
    twin = MetaRLTrainer(config)
    rng = np.random.default_rng(5)
    tasks = twin.tasks.sample(config.agent.meta_batch_size, rng)
    simulator = make_simulator(config, tasks, config.agent.rollouts, seed=int(rng.integers(2**31)))
    sampler = RolloutSampler(simulator, len(tasks), config.env.horizon)
    adapted = twin.adaptation.run(
        sampler, twin.params, config.agent.inner_steps, rng, sample_adapted=False
    ).adapted
    scalars = trainer.train_iteration(0, np.random.default_rng(5))
    assert np.isfinite(list(scalars.values())).all()
    for name, value in trainer.params.items():
        expected = before[name] + lr * (adapted[name] - before[name]).mean(0)
        torch.testing.assert_close(value.detach(), expected, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(before[n], p) for n, p in trainer.params.items())
    assert trainer.env_steps == config.agent.inner_steps * 3 * 4 * 10


def test_failed_baseline_fit_raises_instead_of_continuing():
    observations = torch.randn(2, 3, 5, 2)
    returns = torch.randn(2, 3, 5)
    mask = torch.ones(2, 3, 5)
    fit_linear_baseline(observations, returns, mask)  # healthy data fits
    observations[1, 0, 2, 0] = float("nan")
    with pytest.raises(BaselineFitError, match=r"task\(s\) \[1\]"):
        fit_linear_baseline(observations, returns, mask)


def test_trpo_settings_reject_an_unknown_product():
    with pytest.raises(Exception, match="fisher_product"):
        dataclasses.replace(TRPOSettings(), fisher_product="exact")


def test_the_same_policy_under_two_labels_gives_the_identical_curve():
    raw = read_toml(CONFIGS / "navigation2d_maml.toml")
    config = from_dict(RLExperiment, apply_overrides(raw, TINY))
    trainer = MetaRLTrainer(config)
    tasks = evaluation_tasks(config, "test", 4)
    curves = [
        adaptation_curves(config, trainer.policy, tasks, 1, 2, seed=7, label=label).returns
        for label in ("maml", "pretrained")
    ]
    assert curves[0].shape == (4, 2)
    np.testing.assert_array_equal(curves[0], curves[1])
    policy = trainer.policy
    other_seed = adaptation_curves(config, policy, tasks, 1, 2, seed=8, label="maml").returns
    assert not np.array_equal(curves[0], other_seed)
