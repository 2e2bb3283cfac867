"""The rollout sampler: what it records lines up with the environment's dynamics, step by step."""

import sys

import numpy as np
import pytest
import torch

from metarl.agents.config import RLExperiment, SamplerConfig
from metarl.agents.episodes import Episodes
from metarl.agents.policies import GaussianMLPPolicy, TaskPolicies
from metarl.agents.ray_sampler import task_shards
from metarl.agents.sampler import (
    RolloutSampler,
    RolloutSeeds,
    Shard,
    after_last_step_zeroed,
    in_sampler_layout,
)
from metarl.agents.trainer import MetaRLTrainer
from metarl.config import from_dict
from metarl.core import module_params
from metarl.envs import BatchedSimulator, Task
from metarl.envs.navigation import GOAL_TOLERANCE, MAX_ACTION
from metarl.errors import ConfigError

GOALS = ([0.05, 0.05], [-0.3, 0.4])  # the first is reached within a few steps, the second not


def sample(seed: int, horizon: int = 12, rollouts: int = 3):
    tasks = [Task("Navigation2D", {"goal": goal}) for goal in GOALS]
    simulator = BatchedSimulator("Navigation2D", tasks, rollouts, horizon=horizon)
    policy = GaussianMLPPolicy(2, 2, hidden=(8,), init_std=0.05)
    sampler = RolloutSampler(simulator, len(tasks), horizon)
    params = module_params(policy)
    return sampler.sample(TaskPolicies(policy), params, False, np.random.default_rng(seed))


def test_records_follow_navigation_dynamics_and_stop_at_the_goal():
    episodes = sample(seed=0)
    assert episodes.observations.shape == (2, 3, 12, 2)
    assert episodes.actions.shape == (2, 3, 12, 2)
    assert episodes.rewards.shape == episodes.mask.shape == (2, 3, 12)
    goals = torch.tensor(GOALS).view(2, 1, 2)
    position = torch.zeros(2, 3, 2)
    alive = torch.ones(2, 3)
    for t in range(12):
        assert torch.equal(episodes.mask[:, :, t], alive)
        torch.testing.assert_close(
            episodes.observations[:, :, t] * alive[..., None], position * alive[..., None]
        )
        move = episodes.actions[:, :, t].clamp(-MAX_ACTION, MAX_ACTION)
        position = position + move * alive[..., None]
        reward = -(position - goals).norm(dim=-1) * alive
        torch.testing.assert_close(episodes.rewards[:, :, t], reward)
        alive = alive * ((position - goals).abs() >= GOAL_TOLERANCE).any(dim=-1).float()
    # The near goal is reached by some rollouts: their masks end early. The far one is not.
    assert episodes.mask[0].sum() < 3 * 12
    assert episodes.mask[1].sum() == 3 * 12


def test_same_generator_same_episodes_and_torch_threads_restored():
    threads = torch.get_num_threads()
    a, b, c = sample(seed=1), sample(seed=1), sample(seed=2)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.rewards, b.rewards)
    assert not torch.equal(a.actions, c.actions)
    assert torch.get_num_threads() == threads


class CountdownSimulator:
    """Envs that end after a fixed number of steps; env ``i`` observes ``(seed + i, t)``."""

    observation_dim, action_dim = 2, 2
    action_low, action_high = -np.ones(2), np.ones(2)

    def __init__(self, lengths: list[int]) -> None:
        self.lengths = np.array(lengths)
        self.num_envs = len(lengths)

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.t, self.seed = 0, seed
        return self._obs()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        self.t += 1
        done = self.t >= self.lengths
        return self._obs(), actions.sum(1), done, np.zeros_like(done)

    def _obs(self) -> np.ndarray:
        return np.stack([self.seed + np.arange(self.num_envs), np.full(self.num_envs, self.t)], 1)


def test_shards_sampled_apart_are_the_whole_batch_exactly():
    # Every env ends before the horizon, so the whole batch stops early while a shard runs on to
    # the horizon: the zeroed tail must match as well as the env seeds and the action noise.
    lengths = [[3, 5], [7, 2], [4, 4], [6, 1]]  # per task, per rollout
    policy = GaussianMLPPolicy(2, 2, hidden=(8,))
    policies, horizon = TaskPolicies(policy), 10
    theta = module_params(policy)
    adapted = {name: value + 0.01 * torch.randn(4, *value.shape) for name, value in theta.items()}
    for params, batched in ((theta, False), (adapted, True)):
        whole = RolloutSampler(CountdownSimulator(sum(lengths, [])), 4, horizon)
        expected = whole.sample(policies, params, batched, np.random.default_rng(5))
        seeds = RolloutSeeds.draw(np.random.default_rng(5))
        parts = []
        for shard in task_shards(4, 3):
            rows = slice(shard.first, shard.first + shard.count)
            simulator = CountdownSimulator(sum(lengths[rows], []))
            sampler = RolloutSampler(simulator, shard.count, horizon)
            shard_params = {k: v[rows] for k, v in params.items()} if batched else params
            parts.append(sampler.sample_shard(policies, shard_params, batched, seeds, shard))
        assert parts[0].mask.sum() == 3 + 5 + 7 + 2 and parts[0].actions[0, 0, 9].any()
        joined = in_sampler_layout(
            after_last_step_zeroed(Episodes(*(torch.cat(f) for f in zip(*parts, strict=True))))
        )
        assert expected.mask.sum(-1).tolist() == lengths
        for name, value in expected._asdict().items():
            torch.testing.assert_close(getattr(joined, name), value, rtol=0, atol=0, equal_nan=True)
            assert getattr(joined, name).stride() == value.stride(), name  # same sum order


def test_task_shards_are_contiguous_balanced_and_cover_the_batch():
    assert task_shards(10, 4) == [
        Shard(0, 3, 10),
        Shard(3, 3, 10),
        Shard(6, 2, 10),
        Shard(8, 2, 10),
    ]
    assert task_shards(2, 5) == [Shard(0, 1, 2), Shard(1, 1, 2)]


def test_ray_backend_without_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    config = RLExperiment(sampler=SamplerConfig(backend="ray"))
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[ray\]'"):
        MetaRLTrainer(config)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"sampler": {"address": "10.0.0.1:6379"}}, "ray://HOST:PORT"),
        ({"sampler": {"workers": 0}}, "workers must be >= 1"),
        ({"sampler": {"backend": "ray"}, "agent": {"algorithm": "rl2"}}, "samples in-process"),
    ],
)
def test_sampler_config_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(RLExperiment, raw)
