"""The pretrained baseline: Stable-Baselines3 PPO on the whole task distribution, task unobserved.

Every episode of every worker runs a fresh training task, so PPO learns the policy that does best
on average over the distribution; its actor (same Gaussian MLP as the meta-learners') is then
adapted with the same inner steps as a meta-learned policy (the "pretrained" baseline of Finn et
al. 2017, §5.3). One meta-iteration of the CLI is one PPO update: ``n_steps`` steps of each of
``n_envs`` workers, then ``n_epochs`` epochs of minibatch Adam.

Each iteration starts its workers from fresh resets seeded from the iteration's generator, and
seeds torch's action noise from it too, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from metarl.agents.policies import GaussianMLPPolicy
from metarl.envs import TaskDistribution, make_task_distribution
from metarl.envs.action_scaling import ScaledActions
from metarl.errors import ConfigError

if TYPE_CHECKING:
    from metarl.agents.config import RLExperiment


@dataclass(frozen=True)
class PretrainSettings:
    """PPO settings of the pretrained baseline (Stable-Baselines3 names and defaults, except
    ``n_steps``, sized so an update covers several episodes of every worker).

    Attributes:
        n_envs: parallel workers.
        n_steps: steps per worker and update.
        batch_size: minibatch size.
        n_epochs: epochs per update.
        learning_rate: Adam learning rate.
        gae_lambda: GAE λ of PPO's advantages.
        clip_range: PPO's ε.
        ent_coef: entropy bonus.
    """

    n_envs: int = 8
    n_steps: int = 1024
    batch_size: int = 256
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0

    def __post_init__(self) -> None:
        if min(self.n_envs, self.n_steps, self.batch_size, self.n_epochs) < 1:
            raise ConfigError(f"pretrain sizes must be >= 1: {self}")
        if self.learning_rate <= 0 or self.clip_range <= 0:
            raise ConfigError(f"pretrain needs learning_rate > 0 and clip_range > 0: {self}")


class TaskResampling(gymnasium.Wrapper):
    """Switches its env to a fresh training task at every reset (task not in the observation)."""

    def __init__(self, env: gymnasium.Env, tasks: TaskDistribution) -> None:
        super().__init__(env)
        self.tasks = tasks
        self.rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        task = self.tasks.sample(1, self.rng)[0]
        return self.env.reset(seed=seed, options={**(options or {}), "task": task})


def make_env(env_id: str, config: RLExperiment) -> gymnasium.Env:
    """The Gymnasium env ``env_id`` with the config's horizon, acting in the policy's units
    (``policy.action_scale``, as the batched sampler does)."""
    env = gymnasium.make(env_id, max_episode_steps=config.env.horizon)
    return ScaledActions(env, config.policy.action_scale)


class PPOPretrainer:
    """A :class:`~metarl.training.Trainer` that pretrains the PPO baseline."""

    def __init__(self, config: RLExperiment) -> None:
        self.config = config
        settings = config.pretrain
        tasks = make_task_distribution(config.env.family, config.env.task_seed)
        self.resamplers = [
            TaskResampling(make_env(tasks.family.env_id, config), tasks)
            for _ in range(settings.n_envs)
        ]
        self.envs = DummyVecEnv([lambda env=env: Monitor(env) for env in self.resamplers])
        hidden = list(config.policy.hidden)
        self.model = PPO(
            "MlpPolicy",
            self.envs,
            learning_rate=settings.learning_rate,
            n_steps=settings.n_steps,
            batch_size=settings.batch_size,
            n_epochs=settings.n_epochs,
            gamma=config.agent.gamma,
            gae_lambda=settings.gae_lambda,
            clip_range=settings.clip_range,
            ent_coef=settings.ent_coef,
            policy_kwargs={
                "net_arch": {"pi": hidden, "vf": hidden},
                "activation_fn": nn.Tanh,
                "log_std_init": math.log(config.policy.init_std),
            },
            stats_window_size=100_000,  # every episode of an iteration, cleared before the next
            seed=config.run.seed,
            device="cpu",
        )
        # SB3's default logger writes a folder into the system temp dir on every learn();
        # this one only collects the values read back below (the run logs them itself)
        self.model.set_logger(Logger(folder=None, output_formats=[]))

    def train_iteration(self, iteration: int, rng: np.random.Generator) -> dict[str, float]:
        """One PPO update from fresh, seeded episodes of every worker."""
        del iteration
        torch.manual_seed(int(rng.integers(2**63)))
        for resampler in self.resamplers:
            resampler.rng = np.random.default_rng(rng.integers(2**63))
        self.envs.seed(int(rng.integers(2**31)))
        self.model._last_obs = None  # learn() then resets every worker with the seeds above
        if self.model.ep_info_buffer is not None:  # created by the first learn()
            self.model.ep_info_buffer.clear()
        steps = self.config.pretrain.n_steps * self.config.pretrain.n_envs
        self.model.learn(steps, reset_num_timesteps=False)
        returns = [info["r"] for info in self.model.ep_info_buffer]
        scalars = {"rollout/return": float(np.mean(returns))} if returns else {}
        logged = self.model.logger.name_to_value
        scalars.update({name: float(value) for name, value in logged.items()})
        scalars["time/env_steps"] = float(self.model.num_timesteps)
        return scalars

    def actor(self) -> GaussianMLPPolicy:
        """The PPO actor as a :class:`GaussianMLPPolicy`."""
        return actor_from_state(self.state_dict(), self.config)

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.model.policy.state_dict(),
            "optimizer": self.model.policy.optimizer.state_dict(),
            "num_timesteps": self.model.num_timesteps,
            "n_updates": self.model._n_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.policy.load_state_dict(state["policy"])
        self.model.policy.optimizer.load_state_dict(state["optimizer"])
        self.model.num_timesteps = int(state["num_timesteps"])
        self.model._n_updates = int(state["n_updates"])


def actor_from_state(state: dict[str, Any], config: RLExperiment) -> GaussianMLPPolicy:
    """The actor of a :class:`PPOPretrainer` checkpoint (``state``) as a GaussianMLPPolicy.

    SB3's ``mlp_extractor.policy_net`` is the policy's ``body``, ``action_net`` its ``mean``.
    """
    sb3 = state["policy"]
    weight = sb3["action_net.weight"]
    obs_dim = sb3["mlp_extractor.policy_net.0.weight"].shape[1]
    policy = GaussianMLPPolicy(obs_dim, weight.shape[0], config.policy.hidden)
    renamed = {"log_std": sb3["log_std"]}
    for name, value in sb3.items():
        if name.startswith("mlp_extractor.policy_net."):
            renamed["body." + name.removeprefix("mlp_extractor.policy_net.")] = value
        elif name.startswith("action_net."):
            renamed["mean." + name.removeprefix("action_net.")] = value
    policy.load_state_dict(renamed)
    return policy
