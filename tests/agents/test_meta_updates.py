"""MAML-RL's meta-gradient (finite differences, second-order term), TRPO's trust region, Reptile."""

import pytest
import torch

from metarl.agents.episodes import Episodes
from metarl.agents.losses import ActionDistribution, SurrogateQuery
from metarl.agents.maml import MAMLRL
from metarl.agents.policies import GaussianMLPPolicy, TaskPolicies
from metarl.agents.reptile import ReptileRL, ReptileSettings
from metarl.agents.trpo import (
    TRPOSettings,
    conjugate_gradient,
    kl_hessian_vector_product,
    trpo_step,
)
from metarl.core import InnerLoop, InnerLoopConfig, module_params

pytestmark = pytest.mark.usefixtures("double_precision")


def random_episodes(seed: int, tasks: int = 2, episodes: int = 3, steps: int = 4) -> Episodes:
    g = torch.Generator().manual_seed(seed)
    return Episodes(
        observations=torch.randn(tasks, episodes, steps, 2, generator=g),
        actions=torch.randn(tasks, episodes, steps, 1, generator=g),
        rewards=torch.randn(tasks, episodes, steps, generator=g),
        mask=torch.ones(tasks, episodes, steps),
        advantages=torch.randn(tasks, episodes, steps, generator=g),
        success=torch.full((tasks, episodes), float("nan")),
    )


def make_learner(first_order: bool, vectorize: bool = True, lr: float = 0.5) -> MAMLRL:
    policy = GaussianMLPPolicy(2, 1, hidden=(3,), init_std=0.8, seed=1).double()
    params = module_params(policy)
    inner = InnerLoop(params, InnerLoopConfig(steps=1, lr=lr, first_order=first_order))
    return MAMLRL(params, inner, TaskPolicies(policy, vectorize))


def meta_gradient(learner: MAMLRL, support, query) -> torch.Tensor:
    losses, _ = learner.objective(support, query)
    grads = torch.autograd.grad(losses.mean(), list(learner.params.values()))
    return torch.cat([g.reshape(-1) for g in grads])


def fixed_old(learner: MAMLRL, support, query_episodes) -> SurrogateQuery:
    with torch.no_grad():
        _, metrics = learner.objective(support, SurrogateQuery(query_episodes))
    return SurrogateQuery(query_episodes, ActionDistribution(metrics["mean"], metrics["log_std"]))


def test_maml_meta_gradient_matches_finite_differences(central_differences):
    learner = make_learner(first_order=False)
    support, query_episodes = [random_episodes(1)], random_episodes(2)
    query = fixed_old(learner, support, query_episodes)
    analytic = meta_gradient(learner, support, query)
    numeric = central_differences(
        lambda: learner.objective(support, query)[0].mean().item(), learner.params.values()
    )
    torch.testing.assert_close(analytic, numeric, atol=1e-7, rtol=1e-5)


def test_fomaml_drops_exactly_the_second_order_term():
    support, query_episodes = [random_episodes(1)], random_episodes(2)
    maml, fomaml = make_learner(first_order=False), make_learner(first_order=True)
    query = fixed_old(maml, support, query_episodes)
    second_order = meta_gradient(maml, support, query)
    first_order = meta_gradient(fomaml, support, query)
    # FOMAML's meta-gradient is the query loss's gradient at the adapted parameters φ.
    with torch.no_grad():
        adapted = maml.inner.adapt_tasks(
            maml.params, maml.support_loss, support[0], vectorize=False
        )
    expected = []
    for task in range(2):
        phi = {name: value[task].clone().requires_grad_() for name, value in adapted.items()}
        task_query = SurrogateQuery(
            Episodes(*(x[task] for x in query.episodes)),
            ActionDistribution(query.old.mean[task], query.old.log_std[task]),
        )
        loss, _ = maml.query_fn(phi, task_query)
        expected.append(
            torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(phi.values()))])
        )
    torch.testing.assert_close(first_order, torch.stack(expected).mean(0))
    assert (second_order - first_order).norm() > 1e-3 * second_order.norm()


def test_vectorized_and_sequential_objectives_agree():
    support, query_episodes = [random_episodes(1)], random_episodes(2)
    vectorized, sequential = make_learner(False, True), make_learner(False, False)
    query = fixed_old(vectorized, support, query_episodes)
    torch.testing.assert_close(
        meta_gradient(vectorized, support, query), meta_gradient(sequential, support, query)
    )


def test_trpo_step_on_quadratic_kl_is_the_scaled_natural_gradient():
    fisher = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    g = torch.tensor([1.0, -2.0])
    x = torch.zeros(2, requires_grad=True)
    settings = TRPOSettings(max_kl=0.01, cg_iters=10, cg_damping=0.0)

    def loss_and_kl(at: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return g @ at, 0.5 * at @ fisher @ at

    def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
        loss, kl = loss_and_kl(x)
        return loss, kl * (1 - 1e-9)  # the boundary itself counts as inside

    loss, kl = loss_and_kl(x)
    result = trpo_step([x], loss, kl_hessian_vector_product(kl, [x]), evaluate, settings)
    natural = torch.linalg.solve(fisher, g)
    expected = -natural * torch.sqrt(2 * settings.max_kl / (g @ natural))
    torch.testing.assert_close(x.detach(), expected)
    assert result["step_fraction"] == 1.0
    assert result["kl_after"] <= settings.max_kl


def test_trpo_line_search_backtracks_into_the_trust_region():
    fisher = torch.eye(2)
    g = torch.tensor([1.0, 1.0])
    x = torch.zeros(2, requires_grad=True)
    settings = TRPOSettings(max_kl=0.01, cg_damping=0.0)

    def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
        return g @ x, 2.0 * (0.5 * x @ fisher @ x)  # the true KL is twice the quadratic model

    result = trpo_step([x], g @ x, lambda v: fisher @ v, evaluate, settings)
    assert 0 < result["step_fraction"] < 1
    assert result["kl_after"] <= settings.max_kl
    assert result["loss_after"] < result["loss_before"]


@pytest.mark.parametrize("fisher_fraction", [1.0, 0.67])
def test_maml_trpo_update_respects_the_kl_bound(fisher_fraction):
    learner = make_learner(first_order=False)
    learner.trpo = TRPOSettings(fisher_fraction=fisher_fraction)
    support, query = [random_episodes(1)], random_episodes(2)
    before = {name: value.detach().clone() for name, value in learner.params.items()}
    result = learner.step(support, query)
    old = fixed_old(make_learner(first_order=False), support, query).old
    _, metrics = learner.objective(support, SurrogateQuery(query, old))
    assert result["step_fraction"] > 0
    assert metrics["kl"].mean().item() <= TRPOSettings().max_kl + 1e-12
    assert any(not torch.equal(before[n], v) for n, v in learner.params.items())


def test_conjugate_gradient_solves_spd_system():
    a = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    b = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(conjugate_gradient(lambda v: a @ v, b, 10), torch.linalg.solve(a, b))


def test_reptile_moves_towards_the_mean_adapted_parameters():
    theta = {"w": torch.nn.Parameter(torch.tensor([1.0, 2.0]))}
    adapted = {"w": torch.tensor([[3.0, 2.0], [1.0, 6.0]])}
    ReptileRL(theta, ReptileSettings(lr=0.5)).step(adapted)
    torch.testing.assert_close(theta["w"].detach(), torch.tensor([1.5, 3.0]))
