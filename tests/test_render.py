"""``metarl render``: grids of captioned panels for a camera family and a 2D-view family, the
pieces they are drawn with, and one-line errors for bad requests."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metarl.agents.config import RLExperiment
from metarl.agents.evaluation import adaptation_chunks, adaptation_curves, evaluation_tasks
from metarl.agents.render import (
    FRAME_SIZE,
    RenderError,
    RenderOptions,
    adapted_params,
    render,
    task_label,
)
from metarl.agents.trainer import build_adaptation, build_policy, task_distribution
from metarl.cli import main
from metarl.config import apply_overrides, from_dict, read_toml, to_dict
from metarl.core import module_params
from metarl.envs import Task
from metarl.envs.views import PlaneView, plane_view
from metarl.media import GAP, LINE_HEIGHT, plane_picture
from metarl.runs import RunDir

REPO = Path(__file__).resolve().parents[1]
PANEL_HEIGHT = FRAME_SIZE[1] + 2 * LINE_HEIGHT + 4  # two caption lines above the picture


def tiny_config(name: str, horizon: int) -> RLExperiment:
    raw = read_toml(REPO / "experiments" / name)
    overrides = [
        "agent.meta_batch_size=2",
        "agent.rollouts=2",
        "eval.rollouts=2",
        f"env.horizon={horizon}",
        "env.threads=1",
    ]
    return from_dict(RLExperiment, apply_overrides(raw, overrides))


def render_grid(config: RLExperiment, out: Path) -> np.ndarray:
    policy = build_policy(config, task_distribution(config).split("train"))
    render(config, policy, RenderOptions(out=out, steps=(0, 1), tasks=2))
    return np.asarray(Image.open(out).convert("RGB"))


def panels(grid: np.ndarray) -> list[list[np.ndarray]]:
    width, height = FRAME_SIZE[0], PANEL_HEIGHT
    return [
        [grid[r * (height + GAP) : r * (height + GAP) + height, c * (width + GAP) :][:, :width]
         for c in range(2)]
        for r in range(2)
    ]  # fmt: skip


def check_grid(grid: np.ndarray) -> None:
    assert grid.shape == (2 * PANEL_HEIGHT + GAP, 2 * FRAME_SIZE[0] + GAP, 3)
    (a, b), (c, d) = panels(grid)
    pictures = [panel[PANEL_HEIGHT - FRAME_SIZE[1] :] for panel in (a, b, c, d)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(pictures[i].astype(int) - pictures[j]).sum() > 0, (i, j)
    for panel in (a, b, c, d):  # a caption: dark text on the white strip above the picture
        strip = panel[: PANEL_HEIGHT - FRAME_SIZE[1]]
        assert (strip < 100).any() and (strip == 255).mean() > 0.5


def test_navigation_grid_is_a_trajectory_picture(tmp_path: Path) -> None:
    grid = render_grid(tiny_config("navigation2d_maml.toml", horizon=10), tmp_path / "nav.png")
    check_grid(grid)


def test_halfcheetah_grid_is_camera_frames(tmp_path: Path) -> None:
    config = tiny_config("halfcheetah_dir_maml.toml", horizon=4)
    try:
        grid = render_grid(config, tmp_path / "cheetah.gif")
    except RenderError as error:
        pytest.skip(f"no OpenGL backend for MuJoCo here: {error}")
    check_grid(grid)
    frames = Image.open(tmp_path / "cheetah.gif").n_frames
    assert frames == 5  # the reset frame and one per step


def test_plane_picture_marks_goal_and_path_in_the_given_bounds() -> None:
    view = PlaneView(axes=(0, 1), bounds=(-0.5, 0.5, -0.5, 0.5), goal=(0.25, 0.0))
    path = np.array([[0.0, 0.0], [0.0, 0.25]])
    image = plane_picture(view, path, (255, 0, 0), (120, 120), (-0.5, 0.5, -0.5, 0.5))
    # scale 100 px per unit around the centre (60, 60): goal cross at (85, 60), path up to (60, 35)
    assert tuple(image[60, 85]) == (0, 0, 0)
    assert tuple(image[45, 60]) == (255, 0, 0)
    assert tuple(image[60, 100]) == (250, 250, 250)


def test_navigation_provides_a_plane_view_and_cheetah_does_not() -> None:
    goal = Task("Navigation2D", {"goal": [0.1, -0.2]})
    view = plane_view("metarl/Navigation2D-v0", goal)
    assert view is not None and view.goal == pytest.approx((0.1, -0.2))
    np.testing.assert_array_equal(
        view.positions(np.array([[1.0, 2.0], [3.0, 4.0]])), [[1, 2], [3, 4]]
    )
    cheetah = Task("HalfCheetahDir", {"direction": -1.0})
    assert plane_view("metarl/HalfCheetahDir-v0", cheetah) is None


def test_task_label_is_short() -> None:
    assert task_label(Task("HalfCheetahDir", {"direction": -1.0})) == "direction=-1.00"
    assert task_label(Task("Navigation2D", {"goal": [0.1, -0.2]})) == "goal=(+0.10, -0.20)"
    assert (
        len(task_label(Task("X", {"a": [1.0] * 8, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb": 1.0})))
        == 42
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.jpg"], "--out must end in"),
        (["--out", "x.png", "--steps", "-1"], "--steps must be 0 or more"),
        (["--out", "x.png", "--tasks", "0"], "--tasks must be positive"),
        (["--out", "x.png"], "run directory not found"),
    ],
)
def test_bad_requests_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["render", str(tmp_path / "missing"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metarl: error: ") and message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_tasks_file_of_another_family_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    RunDir.create(run, to_dict(tiny_config("navigation2d_maml.toml", horizon=10)))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(Task("HalfCheetahDir", {"direction": 1.0}).to_json() + "\n")
    out = tmp_path / "out.png"
    assert main(["render", str(run), "--tasks-file", str(tasks), "--out", str(out)]) == 2
    assert "tasks.jsonl:1:" in capsys.readouterr().err
    assert not out.exists()


def test_mp4_has_one_frame_per_step(tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg", reason="the render extra (imageio-ffmpeg) is absent")
    import imageio.v3 as iio

    config = tiny_config("navigation2d_maml.toml", horizon=6)
    policy = build_policy(config, task_distribution(config).split("train"))
    out = render(config, policy, RenderOptions(out=tmp_path / "nav.mp4", steps=(0, 2), tasks=1))
    video = iio.imread(out)
    assert video.shape[0] == 7  # the start and one frame per step
    assert video.shape[1] % 16 == 0 and video.shape[2] >= 2 * FRAME_SIZE[0] + GAP


def test_adapted_params_are_the_evaluations(tmp_path: Path) -> None:
    """The policy after one step acts exactly as in `metarl evaluate`: sampled with the chunk's
    generator after the step-0 rollouts, it gives the evaluation's step-1 returns."""
    config = tiny_config("navigation2d_maml.toml", horizon=10)
    policy = build_policy(config, task_distribution(config).split("train"))
    tasks = evaluation_tasks(config, "test", 2)
    expected = adaptation_curves(config, policy, tasks, 1, 2, seed=7).returns
    (_, after_one) = adapted_params(config, policy, tasks, [0, 1], 2, seed=7)
    adaptation = build_adaptation(config, policy)
    for index, (_, sampler, task_seed) in enumerate(adaptation_chunks(config, tasks, 2, 7)):
        rng = np.random.default_rng(task_seed)
        adaptation.sample(sampler, module_params(policy), False, rng, "test")
        task_params = {name: p[index : index + 1] for name, p in after_one.items()}
        episodes = adaptation.sample(sampler, task_params, True, rng, "test")
        np.testing.assert_allclose(
            episodes.episode_returns().mean(1).double().numpy(), expected[index, 1]
        )
    assert not np.allclose(expected[:, 0], expected[:, 1])


def test_rl2_run_renders_the_episodes_of_one_trial(tmp_path: Path) -> None:
    """An RL² run's columns are the episodes of one trial per task: a 2 × 2 grid of distinct,
    captioned paths, the same for the same seed and another for another seed."""
    run = tmp_path / "rl2"
    tiny = ["agent.meta_batch_size=2", "rl2.trials_per_task=2", "rl2.minibatch_trials=4"]
    tiny += ["rl2.hidden=8", "env.horizon=8"]
    overrides = [arg for setting in tiny for arg in ("--set", setting)]
    config = str(REPO / "experiments" / "navigation2d_rl2.toml")
    assert main(["train", config, "--iterations", "1", "--run-dir", str(run), *overrides]) == 0

    def grid(name: str, seed: int) -> np.ndarray:
        out = tmp_path / name
        args = ["--steps", "0", "1", "--tasks", "2", "--seed", str(seed), "--out", str(out)]
        assert main(["render", str(run), *args]) == 0
        return np.asarray(Image.open(out).convert("RGB"))

    first = grid("a.png", seed=0)
    check_grid(first)
    assert np.array_equal(first, grid("b.png", seed=0))
    assert not np.array_equal(first, grid("c.png", seed=1))
