"""``metarl sweep``: run directories per (setting, seed) on Ray, resumed and skipped on
re-launch, summarised over seeds."""

import json
from pathlib import Path

import pytest

from metarl.cli import main
from metarl.errors import ConfigError
from metarl.runs import RunDir
from metarl.sweep import over_seeds, parse_grid, sweep_runs

CONFIG = Path(__file__).parents[1] / "experiments" / "navigation2d_maml.toml"
TINY = [
    "agent.meta_batch_size=2",
    "agent.rollouts=2",
    "env.horizon=10",
    "policy.hidden=[8]",
    "env.threads=1",
]


def test_grid_settings_are_every_combination_and_runs_have_one_folder_each(tmp_path):
    settings = parse_grid(["agent.inner_lr=0.05,0.1", "env.horizon=5,10"])
    assert settings == [
        ("agent.inner_lr=0.05", "env.horizon=5"),
        ("agent.inner_lr=0.05", "env.horizon=10"),
        ("agent.inner_lr=0.1", "env.horizon=5"),
        ("agent.inner_lr=0.1", "env.horizon=10"),
    ]
    runs = sweep_runs(settings, [0, 1], tmp_path)
    assert len({run.path for run in runs}) == 8
    assert runs[1].path == tmp_path / "agent.inner_lr=0.05,env.horizon=5" / "seed1"
    assert sweep_runs([()], [3], tmp_path)[0].path == tmp_path / "base" / "seed3"
    with pytest.raises(ConfigError, match="distinct"):
        sweep_runs(settings, [0, 0], tmp_path)
    with pytest.raises(ConfigError, match="KEY=V1,V2"):
        parse_grid(["agent.inner_lr=0.1,"])


def test_over_seeds_is_the_mean_and_t_interval_at_shared_x():
    curve = over_seeds([([1, 2, 3], [1.0, 2.0, 3.0]), ([2, 3], [4.0, 5.0])])
    assert curve["x"] == [2, 3]
    assert curve["mean"] == [3.0, 4.0]
    assert curve["ci95"][0] == pytest.approx(12.706 * 1.0, rel=1e-3)  # t(1) · s/√2, s = √2


def sweep(out: Path, iterations: int) -> int:
    sets = [arg for item in TINY for arg in ("--set", item)]
    grid = ["--grid", "agent.inner_lr=0.05,0.1"]
    args = ["sweep", str(CONFIG), "--seeds", "0", "1", *grid, *sets]
    return main([*args, "--iterations", str(iterations), "--out", str(out)])


def test_sweep_trains_resumes_and_skips_runs_and_summarises_over_seeds(local_ray, tmp_path):
    out = tmp_path / "sweep"
    assert sweep(out, iterations=2) == 0
    summary = json.loads((out / "sweep.json").read_text())
    assert [run["status"] for run in summary["runs"]] == ["trained"] * 4
    paths = sorted(out / run["path"] for run in summary["runs"])
    assert [p.relative_to(out).as_posix() for p in paths] == [
        "agent.inner_lr=0.05/seed0",
        "agent.inner_lr=0.05/seed1",
        "agent.inner_lr=0.1/seed0",
        "agent.inner_lr=0.1/seed1",
    ]
    for path in paths:  # ordinary run directories, with their setting and seed
        config = RunDir.open(path).raw_config()
        assert config["run"]["seed"] == int(path.name.removeprefix("seed"))
        assert config["agent"]["inner_lr"] == float(path.parent.name.split("=")[1])
        assert RunDir(path).checkpoint_iteration() == 2
    assert summary["metric"] == "meta_train/return_post"
    for entry in summary["settings"]:
        finals = [r["final"] for r in summary["runs"] if r["setting"] == entry["setting"]]
        assert entry["seeds"] == 2 and entry["curve"]["x"] == [1, 2]
        assert entry["final_mean"] == pytest.approx(sum(finals) / 2)
    assert (out / "sweep.png").is_file()
    assert "| agent.inner_lr=0.05 | 2 |" in (out / "sweep.md").read_text()

    assert sweep(out, iterations=3) == 0  # a longer sweep resumes every run
    summary = json.loads((out / "sweep.json").read_text())
    assert [run["status"] for run in summary["runs"]] == ["resumed"] * 4
    assert all(RunDir(path).checkpoint_iteration() == 3 for path in paths)
    assert sweep(out, iterations=3) == 0  # and a finished one trains nothing
    summary = json.loads((out / "sweep.json").read_text())
    assert [run["status"] for run in summary["runs"]] == ["skipped"] * 4
    assert summary["settings"][0]["curve"]["x"] == [1, 2, 3]

    evaluate = ["evaluate", str(out), "--tasks", "2", "--steps", "1", "--rollouts", "2"]
    assert main(evaluate) == 0  # every run evaluated, then averaged over seeds per setting
    summary = json.loads((out / "sweep.json").read_text())
    for entry in summary["settings"]:
        finals = [
            r["evaluation_final"] for r in summary["runs"] if r["setting"] == entry["setting"]
        ]
        assert entry["evaluation"]["x"] == [0, 1]
        assert entry["evaluation"]["mean"][-1] == pytest.approx(sum(finals) / 2)
    assert (out / "sweep_adaptation.png").is_file()
