"""What ``metarl render`` shows: a policy after 0, 1, … adaptation steps on a few tasks.

The adaptation is the evaluation's (:func:`~metarl.agents.evaluation.adaptation_chunks`: the same
tasks, samplers, seeds and step sizes as ``metarl evaluate``). Each adapted policy then acts for one
episode in its task's Gymnasium env through the same rollout sampler, so the actions reach the env
exactly as in training; the env records what it shows: camera frames from MuJoCo's renderer, or
the path of a family with a 2D view (:mod:`metarl.envs.views`). An RL² policy adapts through its
recurrent state instead: it runs one trial per task, and the panels are the trial's episodes.
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium
import numpy as np
import torch

from metarl.agents.config import RLExperiment
from metarl.agents.evaluation import (
    adaptation_chunks,
    evaluation_adaptation,
    evaluation_tasks,
    task_sampler,
)
from metarl.agents.policies import GaussianMLPPolicy
from metarl.agents.recurrent_policy import RecurrentGaussianPolicy
from metarl.agents.rl2_rollout import sample_trials
from metarl.agents.trainer import build_adaptation
from metarl.core import Params, module_params
from metarl.envs import Task
from metarl.envs.families import get_family
from metarl.envs.views import PlaneView, plane_view
from metarl.errors import MetarlError
from metarl.media import (
    STEP_COLORS,
    caption,
    mp4_available,
    plane_bounds,
    plane_picture,
    tile,
    write_media,
)

FRAME_SIZE = (320, 240)
"""Width and height of one camera frame."""


class RenderError(MetarlError):
    """MuJoCo cannot draw frames here (no working OpenGL backend), or a format is unavailable."""


@dataclass(frozen=True)
class Recording:
    """One episode of a task's policy after ``step`` adaptation steps.

    Attributes:
        task: the task.
        step: adaptation steps (RL²: episodes of the trial) before the episode.
        heading: what the episode is, for its caption ("after 1 step", "episode 2 of the trial").
        episode_return: its undiscounted return.
        frames: camera frames ``[H, W, 3]``, at the reset and after each step (camera families).
        positions: ``[steps + 1, 2]`` path in the plane (2D-view families).
        view: the task's 2D view, if its family has one.
        x_travel: how far the robot moved along x (envs reporting ``x_position``).
    """

    task: Task
    step: int
    heading: str
    episode_return: float
    frames: list[np.ndarray]
    positions: np.ndarray | None
    view: PlaneView | None
    x_travel: float | None


class EpisodeRecord(NamedTuple):
    """What a :class:`RecordingSimulator` recorded of one episode, per env."""

    frames: list[list[np.ndarray]]
    observations: list[list[np.ndarray]]
    x_positions: list[list[float]]


class RecordingSimulator:
    """One Gymnasium env per task, behind the sampler's ``Simulator`` interface, recording each
    env's frames (``camera=True``) or observations, and ``x_position``, until its episode ends.

    ``frames``, ``observations`` and ``x_positions`` hold the current episode; ``episodes`` every
    episode since construction (an RL² trial resets the envs between its episodes)."""

    def __init__(self, env_id: str, tasks: list[Task], horizon: int, camera: bool) -> None:
        options: dict[str, Any] = {"max_episode_steps": horizon}
        if camera:
            options.update(render_mode="rgb_array", width=FRAME_SIZE[0], height=FRAME_SIZE[1])
        self.envs = [gymnasium.make(env_id, task=task, **options) for task in tasks]
        self.camera = camera
        space = self.envs[0].action_space
        self.num_envs = len(tasks)
        self.observation_dim = int(np.prod(self.envs[0].observation_space.shape))
        self.action_dim = int(np.prod(space.shape))
        self.action_low, self.action_high = space.low, space.high  # type: ignore[attr-defined]
        self.fps = float(self.envs[0].metadata.get("render_fps") or 20)
        self.observations: list[list[np.ndarray]] = []
        self.frames: list[list[np.ndarray]] = []
        self.x_positions: list[list[float]] = []
        self.episodes: list[EpisodeRecord] = []
        self._last: list[np.ndarray] = []
        self._done = np.zeros(self.num_envs, dtype=bool)

    def reset(self, seed: int | None = None) -> np.ndarray:
        results = [
            env.reset(seed=None if seed is None else seed + i) for i, env in enumerate(self.envs)
        ]
        self._last = [obs for obs, _ in results]
        self._done[:] = False
        self.observations = [[obs] for obs in self._last]
        self.x_positions = [
            [info["x_position"]] if "x_position" in info else [] for _, info in results
        ]
        self.frames = [[self._frame(env)] for env in self.envs] if self.camera else []
        self.episodes.append(EpisodeRecord(self.frames, self.observations, self.x_positions))
        return np.stack(self._last)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        rewards = np.zeros(self.num_envs)
        ended = np.ones(self.num_envs, dtype=bool)
        for i, env in enumerate(self.envs):
            if self._done[i]:
                continue
            obs, reward, terminated, truncated, info = env.step(actions[i])
            self._last[i], rewards[i] = obs, float(reward)
            ended[i] = self._done[i] = bool(terminated or truncated)
            self.observations[i].append(obs)
            if "x_position" in info:
                self.x_positions[i].append(float(info["x_position"]))
            if self.camera:
                self.frames[i].append(self._frame(env))
        return np.stack(self._last), rewards, ended, np.zeros(self.num_envs, dtype=bool)

    @staticmethod
    def _frame(env: gymnasium.Env) -> np.ndarray:
        quiet, sys.unraisablehook = sys.unraisablehook, lambda _: None
        try:  # gymnasium's half-built viewer complains when it is collected: keep that quiet
            try:
                return np.asarray(env.render())
            except Exception as error:  # the GL backend fails on its first use, in many ways
                reason = (
                    f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else '-'}"
                )
            gc.collect()
        finally:
            sys.unraisablehook = quiet
        raise RenderError(
            f"MuJoCo cannot render with MUJOCO_GL={os.environ.get('MUJOCO_GL')} ({reason}); "
            "install EGL (e.g. libegl1) or set MUJOCO_GL to a backend that works here "
            "(egl, osmesa, glfw)"
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


def adapted_params(
    config: RLExperiment,
    policy: GaussianMLPPolicy,
    tasks: list[Task],
    steps: list[int],
    rollouts: int,
    seed: int,
) -> list[Params]:
    """Per step in ``steps``, every task's parameters after that many inner steps (a leading
    task dimension), exactly as :func:`~metarl.agents.evaluation.adaptation_curves` adapts them:
    each is a fresh run of the chunk's adaptation from the chunk's seed, stopped after k steps."""
    adaptation = evaluation_adaptation(config, policy)
    shared = module_params(policy)
    per_step: list[list[Params]] = [[] for _ in steps]
    for batch, sampler, chunk_seed in adaptation_chunks(config, tasks, rollouts, seed):
        for slot, k in enumerate(steps):
            rng = np.random.default_rng(chunk_seed)
            adapted = adaptation.run(sampler, shared, k, rng, sample_adapted=False).adapted
            if k == 0:
                adapted = {
                    name: p.detach().expand(len(batch), *p.shape) for name, p in adapted.items()
                }
            per_step[slot].append({name: p.detach() for name, p in adapted.items()})
    return [
        {name: torch.cat([chunk[name] for chunk in chunks]) for name in shared}
        for chunks in per_step
    ]


def record_episodes(
    config: RLExperiment,
    policy: GaussianMLPPolicy,
    tasks: list[Task],
    params: list[Params],
    steps: list[int],
    seed: int,
) -> tuple[list[list[Recording]], float]:
    """One recorded episode per task (rows) and adaptation step (columns), and the frame rate.

    ``params[j]`` holds every task's parameters after ``steps[j]`` inner steps. The episodes of
    one column run together in one :class:`RecordingSimulator`, sampled by the evaluation's
    sampler from ``default_rng([seed, j])``.
    """
    env_id, views, camera = _recording_setup(config, tasks)
    policies = build_adaptation(config, policy).policies
    columns, fps = [], 20.0
    for j, (step, step_params) in enumerate(zip(steps, params, strict=True)):
        simulator = RecordingSimulator(env_id, tasks, config.env.horizon, camera)
        try:
            sampler = task_sampler(config, simulator, len(tasks))
            episodes = sampler.sample(policies, step_params, True, np.random.default_rng([seed, j]))
        finally:
            simulator.close()
        fps = simulator.fps
        returns = episodes.episode_returns()[:, 0].tolist()
        heading = f"after {step} step{'' if step == 1 else 's'}"
        record = simulator.episodes[-1]
        columns.append(
            [
                _recording(task, step, heading, returns[i], record, i, views[i])
                for i, task in enumerate(tasks)
            ]
        )
    return [list(row) for row in zip(*columns, strict=True)], fps


def record_trials(
    config: RLExperiment,
    policy: RecurrentGaussianPolicy,
    tasks: list[Task],
    shown: list[int],
    seed: int,
) -> tuple[list[list[Recording]], float]:
    """One RL² trial per task (rows), recording episode ``k + 1`` for each ``k`` in ``shown``
    (columns: after ``k`` episodes of experience), and the frame rate. Task ``i``'s trial is
    sampled from ``default_rng([seed, i])`` with its hidden state carried across the episodes."""
    env_id, views, camera = _recording_setup(config, tasks)
    episodes = max(shown) + 1
    rows, fps = [], 20.0
    for i, task in enumerate(tasks):
        simulator = RecordingSimulator(env_id, [task], config.env.horizon, camera)
        try:
            rng = np.random.default_rng([seed, i])
            trial = sample_trials(
                policy, simulator, episodes, config.env.horizon, rng, config.policy.action_scale
            )
        finally:
            simulator.close()
        fps = simulator.fps
        returns = trial.episode_returns(episodes)[0].tolist()
        rows.append(
            [
                _recording(
                    task,
                    k,
                    f"episode {k + 1} of the trial",
                    returns[k],
                    simulator.episodes[k],
                    0,
                    views[i],
                )
                for k in shown
            ]
        )
    return rows, fps


def _recording_setup(
    config: RLExperiment, tasks: list[Task]
) -> tuple[str, list[PlaneView | None], bool]:
    """The family's env id, each task's 2D view, and whether to film (no 2D view)."""
    env_id = get_family(config.env.family).env_id
    views = [plane_view(env_id, task) for task in tasks]
    return env_id, views, views[0] is None


def _recording(
    task: Task,
    step: int,
    heading: str,
    episode_return: float,
    record: EpisodeRecord,
    env: int,
    view: PlaneView | None,
) -> Recording:
    """The :class:`Recording` of env ``env``'s episode in ``record``."""
    return Recording(
        task=task,
        step=step,
        heading=heading,
        episode_return=float(episode_return),
        frames=record.frames[env] if view is None else [],
        positions=None if view is None else view.positions(np.stack(record.observations[env])),
        view=view,
        x_travel=_travel(record.x_positions[env]),
    )


def _travel(x_positions: list[float]) -> float | None:
    return x_positions[-1] - x_positions[0] if x_positions else None


@dataclass(frozen=True)
class RenderOptions:
    """What ``metarl render`` draws.

    Attributes:
        out: the file to write (``.png``: the last frame, ``.gif``, ``.mp4``).
        steps: the adaptation steps, one column each.
        tasks: the number of held-out tasks (rows): the first tasks ``metarl evaluate`` uses.
        task_list: explicit tasks instead (``--tasks-file``).
        split: the task split of ``tasks``.
        rollouts: rollouts per adaptation step (default: ``eval.rollouts``, else
            ``agent.rollouts``; not used for RL²).
        seed: seeds the recorded episodes (the adaptation keeps the evaluation's ``eval.seed``).
    """

    out: Path
    steps: tuple[int, ...] = (0, 1)
    tasks: int = 2
    task_list: tuple[Task, ...] | None = None
    split: str = "test"
    rollouts: int | None = None
    seed: int = 0


def render(
    config: RLExperiment,
    policy: GaussianMLPPolicy | RecurrentGaussianPolicy,
    options: RenderOptions,
) -> Path:
    """Record one episode per task and column and write them as a grid (rows = tasks), each
    panel captioned. A MAML-style ``policy`` is adapted as the evaluation does, one column per
    adaptation step; an RL² ``policy`` runs one trial per task, column ``k`` showing the episode
    after ``k`` episodes of experience."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    if options.out.suffix.lower() == ".mp4" and not mp4_available():
        raise RenderError("writing .mp4 needs imageio-ffmpeg: pip install 'metarl[render]'")
    steps = sorted(set(options.steps))
    if options.task_list is not None:
        tasks = list(options.task_list)
    else:
        tasks = evaluation_tasks(config, options.split, options.tasks)
    if isinstance(policy, RecurrentGaussianPolicy):
        rows, fps = record_trials(config, policy, tasks, steps, options.seed)
    else:
        rollouts = options.rollouts or config.eval.rollouts or config.agent.rollouts
        params = adapted_params(config, policy, tasks, steps, rollouts, config.eval.seed)
        rows, fps = record_episodes(config, policy, tasks, params, steps, options.seed)
    bounds = None
    if rows[0][0].view is not None:  # one camera for every panel: the bounds that fit all paths
        paths = [recording.positions for row in rows for recording in row]
        bounds = plane_bounds(rows[0][0].view, paths)  # type: ignore[arg-type]
    length = max(len(_timeline(recording)) for row in rows for recording in row)
    times = [length - 1] if options.out.suffix.lower() == ".png" else range(length)
    frames = [
        tile([[_panel(recording, t, bounds) for recording in row] for row in rows]) for t in times
    ]
    return write_media(frames, options.out, fps)


def _timeline(recording: Recording) -> list[Any]:
    return recording.frames or list(recording.positions)  # type: ignore[arg-type]


def _panel(recording: Recording, t: int, bounds: Any) -> np.ndarray:
    """The recording's picture at time ``t`` (its last one once it has ended), captioned; paths
    are drawn in ``bounds``."""
    if recording.view is None:
        image = recording.frames[min(t, len(recording.frames) - 1)]
    else:
        positions = recording.positions[: t + 1]  # type: ignore[index]
        color = STEP_COLORS[recording.step % len(STEP_COLORS)]
        image = plane_picture(recording.view, positions, color, FRAME_SIZE, bounds)
    outcome = f"{recording.heading}: return {recording.episode_return:.1f}"
    if recording.x_travel is not None:
        outcome += f", x {recording.x_travel:+.1f} m"
    return caption(image, [task_label(recording.task), outcome])


def task_label(task: Task, width: int = 42) -> str:
    """The task's parameters in one short line (long multiplier lists summarised)."""
    parts = []
    for name, value in task.params.items():
        if isinstance(value, float):
            parts.append(f"{name}={value:+.2f}")
        elif len(value) <= 3:
            parts.append(f"{name}=(" + ", ".join(f"{item:+.2f}" for item in value) + ")")
        else:
            parts.append(f"{name}×{len(value)}")
    label = ", ".join(parts)
    return label if len(label) <= width else label[: width - 1] + "…"
