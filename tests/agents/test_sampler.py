"""The rollout sampler: what it records lines up with the environment's dynamics, step by step."""

import numpy as np
import torch

from metarl.agents.policies import GaussianMLPPolicy, TaskPolicies
from metarl.agents.sampler import RolloutSampler
from metarl.core import module_params
from metarl.envs import BatchedSimulator, Task
from metarl.envs.navigation import GOAL_TOLERANCE, MAX_ACTION

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
