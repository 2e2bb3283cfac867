"""Robot models and per-task dynamics: scale a base MuJoCo model by a task's multipliers.

The scaled fields and their multiplier bases follow rand_param_envs (Rothfuss et al. 2019, ProMP,
``rand_param_envs/base.py``): ``body_mass``, ``body_inertia``, ``dof_damping`` and
``geom_friction``. Unlike rand_param_envs, which draws one multiplier per array element, a task
here has one multiplier per body, dof or geom (all three principal inertias, or all three friction
coefficients, of a row scale together), and ``mj_setConst`` then recomputes the constants that
MuJoCo derives from masses and inertias, as compiling the scaled model would.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping

import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import expand_model_path

# Model fields a dynamics task scales, by the name of its parameter (the same as the field's).
DYNAMICS_FIELDS = ("body_mass", "body_inertia", "dof_damping", "geom_friction")


@functools.cache
def load_model(xml_file: str) -> mujoco.MjModel:
    """Gymnasium's asset ``xml_file`` compiled once per process; treat it as read-only."""
    return mujoco.MjModel.from_xml_path(expand_model_path(xml_file))


def field_rows(xml_file: str, field: str) -> int:
    """Number of rows of ``field`` (bodies, dofs or geoms) in Gymnasium's asset ``xml_file``."""
    return getattr(load_model(xml_file), field).shape[0]


def apply_dynamics(
    model: mujoco.MjModel, base: mujoco.MjModel, params: Mapping[str, object]
) -> None:
    """Set ``model``'s dynamics fields to ``base``'s times the multipliers in ``params``, in place.

    Fields without a multiplier in ``params`` are left untouched; when none is given the model is
    not touched at all.
    """
    scaled = [name for name in DYNAMICS_FIELDS if name in params]
    if not scaled:
        return
    for name in scaled:
        multipliers = np.asarray(params[name], dtype=np.float64)
        base_values = getattr(base, name)
        if base_values.ndim == 2:
            multipliers = multipliers[:, None]
        getattr(model, name)[:] = base_values * multipliers
    # mj_setConst writes the configuration into the data it is given: use a scratch one.
    mujoco.mj_setConst(model, mujoco.MjData(model))


def task_model(base: mujoco.MjModel, params: Mapping[str, object]) -> mujoco.MjModel:
    """A copy of ``base`` with ``params``' dynamics applied (``base`` itself if it has none)."""
    if not any(name in params for name in DYNAMICS_FIELDS):
        return base
    model = copy.copy(base)
    apply_dynamics(model, base, params)
    return model
