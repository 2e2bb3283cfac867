"""Sinusoid tasks (MAML §5.1) and the Episode container they fill."""

import math

import numpy as np
import pytest
import torch

from metarl.errors import ConfigError
from metarl.fewshot.episodes import Episode, stack_episodes
from metarl.fewshot.sinusoid import SinusoidTasks


def sample(seed: int = 0, n_tasks: int = 4, shots: int = 5, queries: int = 7):
    return SinusoidTasks().sample_with_functions(
        np.random.default_rng(seed), n_tasks, shots, queries
    )


def test_shapes_and_dtypes():
    episode = SinusoidTasks().sample(np.random.default_rng(0), n_tasks=4, shots=5, queries=7)
    assert episode.support_x.shape == episode.support_y.shape == (4, 5, 1)
    assert episode.query_x.shape == episode.query_y.shape == (4, 7, 1)
    for tensor in vars(episode).values():
        assert tensor.dtype == torch.float32


def test_parameters_and_inputs_within_paper_ranges():
    episode, functions = sample(n_tasks=2000, shots=3, queries=3)
    x = torch.cat([episode.support_x, episode.query_x], dim=1)
    eps = 1e-6
    assert functions.amplitude.min() >= 0.1 - eps and functions.amplitude.max() <= 5.0 + eps
    assert functions.phase.min() >= -eps and functions.phase.max() <= math.pi + eps
    assert x.min() >= -5.0 and x.max() <= 5.0
    # The draws fill the ranges, not a corner of them.
    assert functions.amplitude.min() < 0.2 and functions.amplitude.max() > 4.9
    assert x.min() < -4.9 and x.max() > 4.9


def test_targets_are_the_returned_sinusoids_exactly():
    episode, functions = sample()
    x = torch.cat([episode.support_x, episode.query_x], dim=1)
    y = torch.cat([episode.support_y, episode.query_y], dim=1)
    amplitude, phase = functions.amplitude[:, None, None], functions.phase[:, None, None]
    assert torch.equal(y, amplitude * torch.sin(x - phase))
    assert torch.equal(functions(x), y)


def test_sample_matches_sample_with_functions():
    episode = SinusoidTasks().sample(np.random.default_rng(3), 4, 5, 7)
    assert_episodes_equal(episode, sample(seed=3)[0])


def test_seeded_determinism():
    assert_episodes_equal(sample(seed=1)[0], sample(seed=1)[0])
    assert not torch.equal(sample(seed=1)[0].support_x, sample(seed=2)[0].support_x)


@pytest.mark.parametrize("name", ["n_tasks", "shots", "queries"])
@pytest.mark.parametrize("value", [0, -1])
def test_counts_below_one_are_config_errors(name, value):
    counts = {"n_tasks": 2, "shots": 5, "queries": 5, name: value}
    with pytest.raises(ConfigError, match=f"{name}={value}"):
        SinusoidTasks().sample(np.random.default_rng(0), **counts)


def test_inverted_range_is_a_config_error():
    with pytest.raises(ConfigError, match="amplitude"):
        SinusoidTasks(amplitude=(5.0, 0.1))


def test_stack_episodes_adds_a_task_dimension():
    batch = sample(n_tasks=3)[0]
    singles = [Episode(*(getattr(batch, f)[i] for f in vars(batch))) for i in range(3)]
    assert_episodes_equal(stack_episodes(singles), batch)
    with pytest.raises(ConfigError, match="empty"):
        stack_episodes([])


def test_episode_is_a_pytree_for_vmap():
    batch = sample(n_tasks=3)[0]
    means = torch.func.vmap(lambda e: e.support_y.mean() - e.query_x.mean())(batch)
    assert torch.allclose(means, batch.support_y.mean((1, 2)) - batch.query_x.mean((1, 2)))


def assert_episodes_equal(a: Episode, b: Episode) -> None:
    for name, tensor in vars(a).items():
        assert torch.equal(tensor, getattr(b, name)), name
