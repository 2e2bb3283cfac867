"""Policies that act in scaled units: ``env action = clip(a / scale, low, high)``.

pytorch-maml-rl wraps its MuJoCo envs in ``NormalizedActionWrapper(scale=normalization_scale)``
(rllab's ``NormalizedEnv``), which maps ``clip(a, −scale, scale)`` linearly onto the action box;
its locomotion configs use ``normalization_scale = 10``, so a policy with σ = 1 explores with
σ = 0.1 in control units. For the ``[−1, 1]`` boxes of HalfCheetah and Ant that map is exactly
``clip(a / scale, −1, 1)``, the one used here; ``scale = 1`` is plain clipping to the box.

The batched sampler and :class:`ScaledActions` (any Gymnasium use, e.g. Stable-Baselines3) both
call :func:`env_action`, so a policy sees the same env wherever it runs.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces


def env_action(actions: np.ndarray, scale: float, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The control sent to the env for policy ``actions``: ``clip(actions / scale, low, high)``."""
    return np.clip(np.asarray(actions) / scale, low, high)


class ScaledActions(gymnasium.ActionWrapper):
    """Presents the action box ``[scale·low, scale·high]`` and sends :func:`env_action` of the
    agent's action to the wrapped env.

    Args:
        env: an env with a bounded ``Box`` action space.
        scale: policy units per control unit (pytorch-maml-rl's ``normalization_scale``).
    """

    def __init__(self, env: gymnasium.Env, scale: float) -> None:
        super().__init__(env)
        box = env.action_space
        if not isinstance(box, spaces.Box) or not box.is_bounded():
            raise ValueError(f"ScaledActions needs a bounded Box action space, got {box}")
        if scale <= 0:
            raise ValueError(f"action scale must be > 0, got {scale}")
        self.scale = scale
        self.action_space = spaces.Box(box.low * scale, box.high * scale, dtype=box.dtype)

    def action(self, action: np.ndarray) -> np.ndarray:
        box = self.env.action_space
        return env_action(action, self.scale, box.low, box.high).astype(box.dtype)
