"""Helpers of the Ray sampler tests: a tiny Navigation2D experiment, trained on either backend."""

from collections.abc import Callable

import pytest
import torch

from metarl.agents.config import AgentConfig, EnvConfig, RLExperiment, SamplerConfig
from metarl.agents.trainer import MetaRLTrainer
from metarl.training import iteration_rng


def navigation(backend: str, algorithm: str = "maml") -> RLExperiment:
    """Navigation2D, 5 tasks × 4 rollouts × 20 steps, sampled ``backend`` (2 Ray workers)."""
    return RLExperiment(
        env=EnvConfig(family="Navigation2D", horizon=20),
        agent=AgentConfig(algorithm=algorithm, meta_batch_size=5, rollouts=4),
        sampler=SamplerConfig(backend=backend, workers=2),
    )


def assert_ray_trains_as_in_process(algorithm: str = "maml", iterations: int = 2) -> None:
    """Two trainers, in-process and on Ray, log the same scalars (timings aside) and end with
    bit-identical policies."""
    local = MetaRLTrainer(navigation("local", algorithm))
    remote = MetaRLTrainer(navigation("ray", algorithm))

    def logged(scalars: dict[str, float]) -> dict[str, float]:
        return {
            k: v for k, v in scalars.items() if not k.startswith("time/") or k.endswith("steps")
        }

    for iteration in range(iterations):
        a = local.train_iteration(iteration, iteration_rng(0, iteration))
        b = remote.train_iteration(iteration, iteration_rng(0, iteration))
        assert logged(a) == logged(b)
    for name, value in local.policy.state_dict().items():
        assert torch.equal(remote.policy.state_dict()[name], value), name
    remote.workers.close()


@pytest.fixture
def ray_trains_as_in_process() -> Callable[..., None]:
    """:func:`assert_ray_trains_as_in_process`."""
    return assert_ray_trains_as_in_process


@pytest.fixture
def navigation_config() -> Callable[..., RLExperiment]:
    """:func:`navigation`."""
    return navigation
