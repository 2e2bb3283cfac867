"""The families' Gymnasium envs: registration, the env checker, and what a task changes."""

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from metarl.envs import Task, list_families
from metarl.envs.models import load_model
from metarl.errors import TaskError

# The Meta-World families need their own venv: tests/envs/test_metaworld.py.
FAMILIES = [row for row in list_families() if not row[0].startswith("MetaWorld")]


@pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning")
@pytest.mark.parametrize(("family", "env_id"), [(name, env_id) for name, env_id, _ in FAMILIES])
def test_env_checker_passes(family: str, env_id: str) -> None:
    env = gymnasium.make(env_id)
    assert env.spec is not None and env.spec.max_episode_steps == (
        100 if family == "Navigation2D" else 200
    )
    assert env.unwrapped.task.family == family
    check_env(env.unwrapped, skip_render_check=True)


def test_make_with_module_prefix_in_a_fresh_process() -> None:
    code = (
        "import gymnasium\n"
        "env = gymnasium.make('metarl.envs:metarl/HalfCheetahVel-v0')\n"
        "env.reset(seed=0)\n"
        "print(env.spec.max_episode_steps, env.unwrapped.task.family)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["200", "HalfCheetahVel"]


def _rollout(env: gymnasium.Env, task: Task, steps: int = 5) -> list[tuple[float, dict]]:
    """Rewards and infos of ``steps`` fixed actions after ``reset(seed=0, options={"task"})``."""
    env.reset(seed=0, options={"task": task})
    rng = np.random.default_rng(0)
    out = []
    for _ in range(steps):
        _, reward, _, _, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        out.append((reward, info))
    return out


def test_half_cheetah_vel_reward_follows_the_task() -> None:
    env = gymnasium.make("metarl/HalfCheetahVel-v0")
    for velocity in (0.3, 1.7):
        for reward, info in _rollout(env, Task("HalfCheetahVel", {"velocity": velocity})):
            forward = -abs(info["x_velocity"] - velocity)
            assert info["reward_forward"] == pytest.approx(forward, abs=1e-12)
            assert info["reward_ctrl"] < 0
            assert reward == pytest.approx(forward + info["reward_ctrl"], abs=1e-12)
    assert env.unwrapped.task == Task("HalfCheetahVel", {"velocity": 1.7})


def test_set_task_changes_the_reward_not_the_dynamics() -> None:
    env = gymnasium.make("metarl/HalfCheetahDir-v0")
    forward, backward = (
        Task("HalfCheetahDir", {"direction": 1.0}),
        Task("HalfCheetahDir", {"direction": -1.0}),
    )
    ahead = _rollout(env, forward)
    env.unwrapped.set_task(backward)
    assert env.unwrapped.task == backward
    behind = _rollout(env, backward)
    for (reward_a, info_a), (reward_b, info_b) in zip(ahead, behind, strict=True):
        assert info_a["x_velocity"] == info_b["x_velocity"]
        assert info_b["reward_forward"] == -info_a["reward_forward"]
        assert reward_a - reward_b == pytest.approx(2 * info_a["x_velocity"], abs=1e-12)


def test_ant_vel_reward_terms() -> None:
    env = gymnasium.make("metarl/AntVel-v0")
    for reward, info in _rollout(env, Task("AntVel", {"velocity": 2.0})):
        assert info["reward_forward"] == pytest.approx(-abs(info["x_velocity"] - 2.0) + 1.0)
        assert info["reward_survive"] == 0.05
        terms = ("reward_forward", "reward_survive", "reward_ctrl", "reward_contact")
        assert reward == pytest.approx(sum(info[name] for name in terms), abs=1e-12)


def test_navigation_reward_and_termination() -> None:
    env = gymnasium.make("metarl/Navigation2D-v0")
    obs, _ = env.reset(options={"task": Task("Navigation2D", {"goal": [0.3, -0.05]})})
    assert obs.tolist() == [0.0, 0.0]
    obs, reward, terminated, _, _ = env.step(np.array([0.5, -0.05]))  # clipped to 0.1 in x
    assert obs == pytest.approx([0.1, -0.05])
    assert reward == pytest.approx(-0.2) and not terminated
    env.step(np.array([0.1, 0.0]))
    _, reward, terminated, _, _ = env.step(np.array([0.1, 0.0]))
    assert reward == pytest.approx(0.0, abs=1e-6) and terminated


def test_dynamics_task_scales_the_model() -> None:
    env = gymnasium.make("metarl/HopperParams-v0").unwrapped
    base = load_model("hopper.xml")
    np.testing.assert_array_equal(env.model.body_mass, base.body_mass)  # default: all ×1
    rows = {
        name: len(getattr(base, name))
        for name in ("body_mass", "body_inertia", "dof_damping", "geom_friction")
    }
    params = {name: [1.0] * size for name, size in rows.items()}
    params["body_mass"] = [1.0, 2.0, 0.5, 3.0, 1.5][: rows["body_mass"]]
    params["geom_friction"] = [1.2] * rows["geom_friction"]
    env.reset(seed=0, options={"task": Task("HopperParams", params)})
    np.testing.assert_allclose(env.model.body_mass, base.body_mass * params["body_mass"])
    np.testing.assert_allclose(env.model.geom_friction, base.geom_friction * 1.2)
    np.testing.assert_array_equal(env.model.dof_damping, base.dof_damping)
    assert env.model.body_subtreemass[0] == pytest.approx(np.sum(env.model.body_mass))


def test_wrong_task_raises() -> None:
    env = gymnasium.make("metarl/HalfCheetahVel-v0")
    with pytest.raises(TaskError):
        env.reset(options={"task": Task("HalfCheetahDir", {"direction": 1.0})})
    with pytest.raises(TaskError):
        env.unwrapped.set_task(Task("HalfCheetahVel", {"velocity": 5.0}))
