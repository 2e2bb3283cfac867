"""Every bad input is one line (``metarl: error: ...``), exit 2, no traceback, nothing written.

The table covers malformed configs, algorithm-dependent settings, bad paths and bad CLI calls.
Each case may name files under ``{tmp}`` (a fresh folder) and ``{run}`` (a trained sinusoid
run, which must come out unchanged).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import NAVIGATION, SINUSOID, run_cli

NEW = "{tmp}/new-run"
SIN = ["train", SINUSOID, "--iterations", "2", "--run-dir", NEW]
NAV = ["train", NAVIGATION, "--iterations", "2", "--run-dir", NEW]

CASES: list[tuple[str, list[str], str]] = [
    ("unknown key", [*SIN, "--set", "learner.inner_lrr=0.1"], "unknown config key"),
    ("bad algorithm", [*SIN, "--set", "learner.algorithm=maml2"], "bad value 'maml2'"),
    ("negative shots", [*SIN, "--set", "data.shots=-2"], "shots must be >= 1"),
    ("omniglot without data", [*SIN, "--set", "data.dataset=omniglot"], "data directory"),
    (
        "omniglot data dir absent",
        [*SIN, "--set", "data.dataset=omniglot", "--data-dir", "{tmp}/absent"],
        "absent",
    ),
    ("maml with 0 inner steps", [*SIN, "--set", "learner.inner_steps=0"], "inner_steps >= 1"),
    (
        "fomaml with 0 inner steps",
        [*SIN, "--set", "learner.algorithm=fomaml", "--set", "learner.inner_steps=0"],
        "inner_steps >= 1",
    ),
    ("RL maml with 0 inner steps", [*NAV, "--set", "agent.inner_steps=0"], "inner_steps >= 1"),
    (
        "RL fomaml with 0 inner steps",
        [*NAV, "--set", "agent.algorithm=fomaml", "--set", "agent.inner_steps=0"],
        "inner_steps >= 1",
    ),
    (
        "RL reptile with 0 inner steps",
        [*NAV, "--set", "agent.algorithm=reptile", "--set", "agent.inner_steps=0"],
        "inner_steps >= 1",
    ),
    (
        "learned inner rule with an SGD step-size schedule",
        [
            *NAV,
            *("--set", "agent.inner_rule=learned", "--set", "agent.outer=ppo"),
            *("--set", "eval.inner_lr=[0.1, 0.05]"),
        ],
        "cannot be used with agent.inner_rule = 'learned'",
    ),
    ("zero iterations", [*SIN, "--iterations", "0"], "run.iterations must be >= 1"),
    ("negative seed", [*SIN, "--seed", "-1"], "run.seed must be >= 0"),
    ("bad on_nonfinite", [*SIN, "--set", "run.on_nonfinite=ignore"], "bad value 'ignore'"),
    ("zero log_every", [*SIN, "--set", "run.log_every=0"], "run.log_every must be >= 1"),
    ("zero outer_lr", [*SIN, "--set", "learner.outer_lr=0"], "outer_lr must be > 0"),
    ("zero meta-batch", [*SIN, "--set", "learner.meta_batch_size=0"], "meta_batch_size"),
    ("string learning rate", [*SIN, "--set", "learner.inner_lr=abc"], "inner_lr"),
    ("unknown family", [*NAV, "--set", "env.family=NoSuchFamily"], "NoSuchFamily"),
    ("zero horizon", [*NAV, "--set", "env.horizon=0"], "horizon must be >= 1"),
    ("gamma above 1", [*NAV, "--set", "agent.gamma=1.5"], "gamma"),
    ("no hidden layer", [*NAV, "--set", "policy.hidden=[]"], "hidden layer"),
    ("zero eval tasks", [*NAV, "--set", "eval.tasks=0"], "tasks must be >= 1"),
    ("--set without =", [*SIN, "--set", "learner.inner_lr"], "expects key=value"),
    ("--set without key", [*SIN, "--set", "=3"], "expects key=value"),
    ("--set into a scalar", [*SIN, "--set", "run.seed.x=3"], "is not a table"),
    ("config file absent", ["train", "{tmp}/absent.toml", "--run-dir", NEW], "not found"),
    ("malformed TOML", ["train", "{tmp}/broken.toml", "--run-dir", NEW], "malformed TOML"),
    ("config without kind", ["train", "{tmp}/nokind.toml", "--run-dir", NEW], "no 'kind'"),
    ("unknown kind", ["train", "{tmp}/vision.toml", "--run-dir", NEW], "unknown experiment kind"),
    ("run dir under a file", [*SIN[:-1], "{tmp}/file.txt/run"], "cannot create run directory"),
    ("run dir in /proc", [*SIN[:-1], "/proc/metarl-run"], "cannot create run directory"),
    ("train without config", ["train", "--run-dir", NEW], "needs a CONFIG.toml"),
    ("resume with --set", ["train", "--resume", "{run}", "--set", "run.seed=1"], "--resume"),
    ("resume absent dir", ["train", "--resume", "{tmp}/absent"], "not found"),
    ("resume a non-run", ["train", "--resume", "{tmp}"], "is not a metarl run"),
    ("reuse a run dir", [*SIN[:-1], "{run}"], "already holds a run"),
    ("evaluate absent run", ["evaluate", "{tmp}/absent"], "not found"),
    ("evaluate negative steps", ["evaluate", "{run}", "--steps", "-1"], "--steps"),
    ("evaluate zero tasks", ["evaluate", "{run}", "--tasks", "0"], "--tasks"),
    ("plot unevaluated run", ["plot", "{run}", "--out", "{tmp}/p.png"], "no evaluation.json"),
    ("unknown option", ["train", SINUSOID, "--bogus"], "unrecognized arguments: --bogus"),
    ("no command", [], "required: COMMAND"),
    ("bad split", ["evaluate", "{run}", "--split", "val"], "invalid choice: 'val'"),
    ("non-integer iterations", [*SIN, "--iterations", "abc"], "invalid int value"),
    ("plot without --out", ["plot", "{run}"], "required: --out"),
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder`` with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_the_table_has_at_least_30_cases():
    assert len(CASES) >= 30
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clean_line(tmp_path, capsys, trained_sinusoid, argv, message):
    (tmp_path / "broken.toml").write_text('kind = "fewshot"\n[run\nseed = 1\n')
    (tmp_path / "nokind.toml").write_text("[run]\nseed = 1\n")
    (tmp_path / "vision.toml").write_text('kind = "vision"\n')
    (tmp_path / "file.txt").write_text("not a folder\n")
    inputs, run_before = snapshot(tmp_path), snapshot(trained_sinusoid)
    argv = [a.format(tmp=tmp_path, run=trained_sinusoid) for a in argv]

    code = run_cli(argv)

    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("metarl: error: ")
    assert captured.err.count("\n") == 1, captured.err
    assert message in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert snapshot(tmp_path) == inputs
    assert snapshot(trained_sinusoid) == run_before
