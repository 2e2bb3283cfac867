"""Policy-unit actions (``policy.action_scale``): the same controls reach the env in the batched
sampler, in the Gymnasium wrapper the PPO baseline trains on, in meta-training and in evaluation."""

import dataclasses
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from metarl.agents.config import AgentConfig, EnvConfig, EvalConfig, PolicyConfig, RLExperiment
from metarl.agents.evaluation import adaptation_curves, evaluation_tasks
from metarl.agents.experiment import load_ppo_baseline
from metarl.agents.policies import GaussianMLPPolicy, TaskPolicies
from metarl.agents.pretrain import PPOPretrainer, make_env
from metarl.agents.sampler import RolloutSampler
from metarl.agents.trainer import MetaRLTrainer
from metarl.cli import main
from metarl.config import RunConfig, from_dict, read_toml
from metarl.core import module_params
from metarl.envs import BatchedSimulator, make_task_distribution
from metarl.envs.action_scaling import ScaledActions, env_action
from metarl.errors import ConfigError

SCALE = 10.0


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_env_action_is_the_reference_normalized_action_map_on_unit_boxes(scale: float) -> None:
    """pytorch-maml-rl's NormalizedActionWrapper: ``lb + (clip(a, ±s) + s)(ub − lb) / 2s``."""
    low, high = -np.ones(6), np.ones(6)
    actions = np.random.default_rng(0).normal(0, 2 * scale, (50, 6))
    reference = low + (np.clip(actions, -scale, scale) + scale) * (high - low) / (2 * scale)
    np.testing.assert_allclose(env_action(actions, scale, low, high), reference, atol=1e-12)
    assert (np.abs(actions) > scale).any()  # the clipping is exercised


def test_scale_one_is_plain_clipping_to_an_asymmetric_box() -> None:
    low, high = np.array([-0.1, 0.0]), np.array([0.1, 2.0])
    actions = np.array([[0.05, -1.0], [0.3, 1.5], [-0.2, 3.0]])
    expected = np.array([[0.05, 0.0], [0.1, 1.5], [-0.1, 2.0]])
    np.testing.assert_array_equal(env_action(actions, 1.0, low, high), expected)


class RecordingSimulator:
    """Passes everything through to a simulator and keeps its reset seed and the controls."""

    def __init__(self, simulator: BatchedSimulator) -> None:
        self.simulator = simulator
        self.controls: list[np.ndarray] = []
        self.seed: int | None = None

    def __getattr__(self, name: str):
        return getattr(self.simulator, name)

    def reset(self, seed: int | None = None) -> np.ndarray:
        self.seed = seed
        return self.simulator.reset(seed=seed)

    def step(self, actions: np.ndarray) -> tuple:
        self.controls.append(np.array(actions))
        return self.simulator.step(actions)


def test_sampler_and_the_ppo_baselines_gymnasium_env_send_the_same_controls() -> None:
    horizon, rollouts = 6, 2
    tasks = make_task_distribution("HalfCheetahVel", seed=0).split("train")[:2]
    simulator = RecordingSimulator(BatchedSimulator("HalfCheetahVel", tasks, rollouts, horizon))
    policy = GaussianMLPPolicy(simulator.observation_dim, simulator.action_dim, (8,), init_std=8)
    sampler = RolloutSampler(simulator, len(tasks), horizon, action_scale=SCALE)
    episodes = sampler.sample(
        TaskPolicies(policy), module_params(policy), False, np.random.default_rng(0)
    )
    # The episodes keep the policy's samples; the env got them divided by the scale, clipped.
    actions = episodes.actions.flatten(0, 1).transpose(0, 1).numpy()  # [T, envs, act]
    assert np.abs(actions).max() > SCALE  # σ = 8 policy units: some controls are clipped
    np.testing.assert_allclose(np.stack(simulator.controls), np.clip(actions / SCALE, -1, 1))
    # Replayed through the PPO baseline's env (the ScaledActions wrapper), the raw samples give
    # the sampler's observations and rewards.
    config = RLExperiment(
        env=EnvConfig(family="HalfCheetahVel", horizon=horizon),
        policy=PolicyConfig(action_scale=SCALE),
    )
    for i in range(len(tasks) * rollouts):
        env = make_env("metarl/HalfCheetahVel-v0", config)
        assert env.action_space.high.tolist() == [SCALE] * 6
        task = tasks[i // rollouts]
        obs, _ = env.reset(seed=simulator.seed + i, options={"task": task})
        for t in range(horizon):
            recorded = episodes.observations[i // rollouts, i % rollouts, t].numpy()
            np.testing.assert_allclose(recorded, obs, rtol=0, atol=1e-5)
            obs, reward, *_ = env.step(actions[t, i])
            assert episodes.rewards[i // rollouts, i % rollouts, t] == pytest.approx(
                reward, rel=1e-5, abs=1e-5
            )


def test_pretrainer_acts_through_the_scaled_wrapper() -> None:
    config = RLExperiment(
        kind="rl",
        env=EnvConfig(family="HalfCheetahVel", horizon=5),
        policy=PolicyConfig(hidden=(8,), action_scale=SCALE),
        agent=AgentConfig(algorithm="ppo"),
    )
    config = dataclasses.replace(
        config, pretrain=dataclasses.replace(config.pretrain, n_envs=1, n_steps=8, batch_size=8)
    )
    pretrainer = PPOPretrainer(config)
    assert isinstance(pretrainer.resamplers[0].env, ScaledActions)
    np.testing.assert_array_equal(pretrainer.envs.action_space.low, np.full(6, -SCALE))


def _scaled_copy(policy: GaussianMLPPolicy, scale: float) -> GaussianMLPPolicy:
    """The same policy in units ``scale`` times smaller: mean and σ multiplied by ``scale``."""
    copy = GaussianMLPPolicy(17, 6, (8,))
    copy.load_state_dict(policy.state_dict())
    with torch.no_grad():
        copy.mean.weight.mul_(scale)
        copy.mean.bias.mul_(scale)
        copy.log_std.add_(np.log(scale))
    return copy


def _config(scale: float) -> RLExperiment:
    return RLExperiment(
        run=RunConfig(seed=3),
        env=EnvConfig(family="HalfCheetahVel", horizon=5, threads=1),
        policy=PolicyConfig(hidden=(8,), action_scale=scale),
        agent=AgentConfig(meta_batch_size=2, rollouts=2),
        eval=EvalConfig(tasks=2, steps=0, rollouts=2),
    )


def test_evaluation_and_meta_training_see_the_same_env_at_any_scale() -> None:
    """A policy in control units at scale 1 and its copy in units 10x smaller at scale 10 draw
    the same controls from the same noise, so evaluation and meta-training see equal returns."""
    policy = GaussianMLPPolicy(17, 6, (8,), init_std=0.5, seed=1)
    with torch.no_grad():
        policy.mean.bias.fill_(0.3)  # the mean matters, not only the noise
    unit, scaled = _config(1.0), _config(SCALE)
    tasks = evaluation_tasks(unit, "test", 2)
    returns_unit = adaptation_curves(unit, policy, tasks, 0, 2, seed=0).returns
    scaled_policy = _scaled_copy(policy, SCALE)
    returns_scaled = adaptation_curves(scaled, scaled_policy, tasks, 0, 2, seed=0).returns
    np.testing.assert_allclose(returns_scaled, returns_unit, rtol=1e-4)
    pre = []
    for config, source in ((unit, policy), (scaled, _scaled_copy(policy, SCALE))):
        trainer = MetaRLTrainer(config)
        trainer.policy.load_state_dict(source.state_dict())
        pre.append(trainer.train_iteration(0, np.random.default_rng(0))["meta_train/return_pre"])
    assert pre[1] == pytest.approx(pre[0], rel=1e-4)
    # ...and a policy that ignores the scale sees a different env.
    returns_plain = adaptation_curves(scaled, policy, tasks, 0, 2, seed=0).returns
    assert not np.allclose(returns_plain, returns_unit, rtol=1e-2)


def test_bad_action_scale_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="action_scale"):
        PolicyConfig(action_scale=0.0)
    with pytest.raises(ValueError, match="bounded Box"):
        ScaledActions(gymnasium.make("CartPole-v1"), 2.0)


def test_ppo_baseline_must_act_at_the_runs_scale(tmp_path) -> None:
    """A PPO actor trained at one scale would act ``scale`` times too strongly at another."""
    config_path = str(Path(__file__).resolve().parents[2] / "experiments" / "navigation2d_ppo.toml")
    ppo_dir = tmp_path / "ppo"
    tiny = ["pretrain.n_envs=1", "pretrain.n_steps=16", "pretrain.batch_size=16",
            "pretrain.n_epochs=1", "policy.hidden=[4]", "policy.action_scale=2"]  # fmt: skip
    args = ["train", config_path, "--iterations", "1", "--run-dir", str(ppo_dir)]
    assert main([*args, *(a for s in tiny for a in ("--set", s))]) == 0
    config = from_dict(RLExperiment, read_toml(config_path))
    with pytest.raises(ConfigError, match="action_scale = 2.0, not 1.0"):
        load_ppo_baseline(ppo_dir, config)
    scaled = dataclasses.replace(config, policy=PolicyConfig(hidden=(4,), action_scale=2.0))
    assert load_ppo_baseline(ppo_dir, scaled).mean.out_features == 2
