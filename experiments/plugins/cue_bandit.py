"""A memory test for RL²: a two-armed bandit whose only informative reward is one episode old.

The task is a payoff ``p`` ∈ U[−1, 1]. Only the first step of an episode pays: ``p · clip(a, −1,
1)`` (pulling towards +1 or −1 is choosing an arm); every later step pays 0, whatever the action.
The observation is 1 on the paying step and 0 after it. Within an episode the policy therefore
learns nothing it can still use: a policy without memory earns 0 on average over the payoffs in
every episode, while a recurrent policy that carries the first episode's (action, reward), hence
the sign of ``p``, across the reset and the zero-reward steps after it earns ``|p|`` (0.5 on
average) from the second episode on. It is a two-armed version of the bandits of Duan et al.
2016 (§3.1), where each pull is an episode of the trial, padded with distractor steps so that
the memory must survive them, the done flag and the reset.

Use it with ``[env] plugins = ["cue_bandit.py"]`` (``cue_bandit_rl2.toml`` here;
``experiments/benchmarks/rl2_memory.py`` trains and evaluates it).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from metarl.envs import Task, TaskEnvMixin, Uniform, register_family


class CueBanditEnv(TaskEnvMixin, gymnasium.Env):
    """First step pays ``payoff · clip(a, −1, 1)``, later steps 0; observation: 1 on the first."""

    family = "CueBandit"
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, task: Task | None = None) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._first = True
        super().__init__(task)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed, options=options)
        self._first = True
        return np.ones(1, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        pull = float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))
        reward = float(self.task_params["payoff"]) * pull if self._first else 0.0
        self._first = False
        return np.zeros(1, dtype=np.float32), reward, False, False, {}


register_family(
    "CueBandit",
    CueBanditEnv,
    {"payoff": Uniform(-1.0, 1.0)},
    horizon=4,
    description="two-armed bandit paying only on an episode's first step (RL² memory test)",
)
