"""Meta-World's ML1 and ML10 benchmarks as task families (Yu et al. 2019, "Meta-World: A Benchmark
and Evaluation for Multi-Task and Meta Reinforcement Learning"; Farama's ``metaworld`` 3.1.1).

Registered through the ``metarl.families`` entry point, like an installed user plugin:

- ``MetaWorldML1_<skill>`` (one family per v3 skill, ``-`` spelled ``_``, e.g.
  ``MetaWorldML1_pick_place_v3``): ``metaworld.ML1(skill)``'s 50 train goal variations for
  training, its 50 test variations held out;
- ``MetaWorldML10``: ``metaworld.ML10()``'s 10 train skills × 50 variations for training, the 5
  held-out skills × 50 variations for test.

A task is plain data that recreates Meta-World's own task object: ``skill`` (index into the
family's skills, ``SKILLS``), ``test`` (0: the benchmark's ``train_tasks``, 1: its ``test_tasks``),
``variation`` (the skill's n-th task in that list) and ``seed`` (the benchmark's seed, 0). Episodes
last 500 steps (Meta-World's ``max_path_length``); the reward is Meta-World's (version 2), the goal
is hidden from the observation (ML's ``partially_observable``), and ``info["success"]`` is its
success flag. ``metaworld`` is imported only when an env is built: it pins MuJoCo 3.3.0, so it lives
in its own venv (``make setup-metaworld``).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium.spaces import Box

from metarl.envs.families import FAMILIES, register_family
from metarl.envs.spaces import TaskList
from metarl.envs.task_env import TaskEnvMixin
from metarl.envs.tasks import Task
from metarl.errors import TaskError

HORIZON = 500
"""Meta-World's ``max_path_length``."""
VARIATIONS = 50
"""Goal variations per skill and split (Meta-World's ``_N_GOALS``)."""
BENCHMARK_SEED = 0
INSTALL_HINT = "run `make setup-metaworld` and use .venv-metaworld (MuJoCo 3.3.0, metaworld 3.1.1)"

ML10_TRAIN = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "sweep-v3",
    "basketball-v3",
)
ML10_TEST = ("drawer-open-v3", "door-close-v3", "shelf-place-v3", "sweep-into-v3", "lever-pull-v3")
V3_SKILLS = (
    *("assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3"),
    *("button-press-topdown-v3", "button-press-topdown-wall-v3", "button-press-v3"),
    *("button-press-wall-v3", "coffee-button-v3", "coffee-pull-v3", "coffee-push-v3"),
    *("dial-turn-v3", "disassemble-v3", "door-close-v3", "door-lock-v3", "door-open-v3"),
    *("door-unlock-v3", "hand-insert-v3", "drawer-close-v3", "drawer-open-v3"),
    *("faucet-open-v3", "faucet-close-v3", "hammer-v3", "handle-press-side-v3"),
    *("handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3"),
    *("pick-place-wall-v3", "pick-out-of-hole-v3", "pick-place-v3", "plate-slide-v3"),
    *("plate-slide-side-v3", "plate-slide-back-v3", "plate-slide-back-side-v3"),
    *("peg-insert-side-v3", "peg-unplug-side-v3", "soccer-v3", "stick-push-v3"),
    *("stick-pull-v3", "push-v3", "push-wall-v3", "push-back-v3", "reach-v3"),
    *("reach-wall-v3", "shelf-place-v3", "sweep-into-v3", "sweep-v3", "window-open-v3"),
    "window-close-v3",
)
"""Meta-World 3.1.1's v3 skills, in ``metaworld.ML1.ENV_NAMES`` order (tested there)."""


def _metaworld() -> Any:
    """The ``metaworld`` module; a one-line TaskError if it is missing or cannot run here."""
    try:
        import metaworld
        import mujoco
    except ImportError as error:
        raise TaskError(f"Meta-World is not installed ({error}); {INSTALL_HINT}") from None
    if int(mujoco.__version__.split(".")[0]) >= 4:
        raise TaskError(
            f"Meta-World 3.1.1 needs MuJoCo 3.3.0, this venv has {mujoco.__version__}; "
            f"{INSTALL_HINT}"
        )
    return metaworld


@functools.cache
def benchmark(name: str, seed: int) -> Any:
    """Meta-World's benchmark ``"ML10"`` or ``ML1(name)`` with ``seed``, built once per process
    (ML1 takes about 2 s, ML10 about 15 s: Meta-World resets each skill 50 times per split)."""
    metaworld = _metaworld()
    return metaworld.ML10(seed=seed) if name == "ML10" else metaworld.ML1(name, seed=seed)


def metaworld_task(task: Task) -> tuple[str, Any, type]:
    """The skill, Meta-World task object and Meta-World env class that ``task`` stands for."""
    env_class = FAMILIES[task.family].env_class()
    skill = env_class.skills[int(task.params["skill"])]
    bench = benchmark(env_class.benchmark_name, int(task.params["seed"]))
    held_out = bool(task.params["test"])
    tasks = bench.test_tasks if held_out else bench.train_tasks
    classes = bench.test_classes if held_out else bench.train_classes
    of_skill = [mw_task for mw_task in tasks if mw_task.env_name == skill]
    return skill, of_skill[int(task.params["variation"])], classes[skill]


class _SawyerPool:
    """Meta-World envs by skill, shared by the process's wrappers: building one compiles its model
    (about 0.5 s), so a wrapper that changes skill hands its env back for the next one to reuse."""

    def __init__(self) -> None:
        self.free: dict[str, list[gymnasium.Env]] = {}

    def take(self, skill: str, env_class: type, render_mode: str | None) -> gymnasium.Env:
        free = self.free.get(skill, [])
        for i, env in enumerate(free):
            if env.render_mode == render_mode:
                return free.pop(i)
        return env_class(render_mode=render_mode)

    def give(self, skill: str, env: gymnasium.Env) -> None:
        self.free.setdefault(skill, []).append(env)


_POOL = _SawyerPool()


class _SawyerSkills(gymnasium.Env):
    """Runs the Meta-World env of the current task's skill, with this env's generator."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 80}
    # Every v3 skill observes 39 numbers (hand, gripper, two objects, both frames, and the goal,
    # zeroed in ML) and acts with 4 (xyz of the hand, gripper).
    observation_space = Box(-np.inf, np.inf, (39,), np.float64)
    action_space = Box(-1.0, 1.0, (4,), np.float32)

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self._skill: str | None = None
        self._sawyer: Any = None

    def _use(self, skill: str, mw_task: Any, env_class: type) -> None:
        if skill != self._skill:
            if self._sawyer is not None:
                _POOL.give(self._skill, self._sawyer)
            self._sawyer = _POOL.take(skill, env_class, self.render_mode)
            self._skill = skill
        self._sawyer.set_task(mw_task)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._sawyer.np_random = self.np_random
        return self._sawyer.reset()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self._sawyer.step(np.asarray(action))
        return obs, float(reward), terminated, truncated, info

    def render(self) -> Any:
        return self._sawyer.render()

    def close(self) -> None:
        """Hand the Meta-World env back to the pool (it is reused, not closed)."""
        if self._sawyer is not None:
            _POOL.give(self._skill, self._sawyer)
            self._sawyer = self._skill = None


class MetaWorldEnv(TaskEnvMixin, _SawyerSkills):
    """A Meta-World benchmark's task as a metarl family env (see the module docstring).

    Subclassed per family by :func:`register_families`, which sets ``family``, ``skills`` and
    ``benchmark_name`` ("ML10", or the ML1 skill).
    """

    skills: ClassVar[tuple[str, ...]]
    benchmark_name: ClassVar[str]

    def _apply_task(self, task: Task) -> None:
        self._use(*metaworld_task(task))


def _listed(skills: range, held_out: bool) -> list[dict[str, float]]:
    """Variation-major, so that the first n tasks of a split (``metarl evaluate --tasks n``) cycle
    through its skills."""
    return [
        {"skill": k, "test": float(held_out), "variation": v, "seed": BENCHMARK_SEED}
        for v in range(VARIATIONS)
        for k in skills
    ]


def _register(
    name: str, skills: tuple[str, ...], bench: str, train: range, test: range, info: str
) -> None:
    if name in FAMILIES:
        return
    env_class = type(
        f"{name}Env",
        (MetaWorldEnv,),
        {"family": name, "skills": skills, "benchmark_name": bench, "__module__": __name__},
    )
    globals()[env_class.__name__] = env_class
    tasks = TaskList(_listed(train, held_out=False), test=_listed(test, held_out=True))
    register_family(name, env_class, tasks, HORIZON, info, backend="gym")


def register_families() -> None:
    """Register ``MetaWorldML1_<skill>`` for every v3 skill and ``MetaWorldML10`` (once)."""
    for skill in V3_SKILLS:
        name = "MetaWorldML1_" + skill.replace("-", "_")
        info = f"Meta-World ML1 {skill}: 50 train goals, 50 held-out goals"
        _register(name, (skill,), skill, range(1), range(1), info)
    skills, n_train = ML10_TRAIN + ML10_TEST, len(ML10_TRAIN)
    info = "Meta-World ML10: 10 train skills, 5 held-out skills, 50 goals each"
    _register("MetaWorldML10", skills, "ML10", range(n_train), range(n_train, len(skills)), info)
