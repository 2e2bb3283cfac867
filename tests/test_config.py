"""Strict config loading, overrides and TOML round trips."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from metarl.config import (
    RunConfig,
    apply_overrides,
    dump_toml,
    from_dict,
    parse_override,
    read_toml,
    to_dict,
)
from metarl.errors import ConfigError
from metarl.experiment import resolve_config


@dataclass(frozen=True)
class Inner:
    rate: float = 0.1
    mode: Literal["a", "b"] = "a"
    names: tuple[str, ...] = ()
    limit: int | None = None


@dataclass(frozen=True)
class Outer:
    title: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_from_dict_builds_nested_dataclasses_and_coerces_ints_to_floats():
    config = from_dict(Outer, {"title": "t", "inner": {"rate": 1, "names": ["p", "q"]}})
    assert config == Outer("t", Inner(rate=1.0, names=("p", "q")))
    assert isinstance(config.inner.rate, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"inner": {"rat": 0.1}}, "unknown config key 'inner.rat'"),
        ({"titel": "x"}, "unknown config key 'titel'"),
        ({"inner": {"mode": "c"}}, "bad value 'c' for 'inner.mode'"),
        ({"inner": {"rate": "fast"}}, "'inner.rate' must be of type float"),
        ({"inner": {"limit": True}}, "'inner.limit' must be an integer"),
        ({"inner": 3}, "inner must be a table"),
    ],
)
def test_from_dict_rejects_unknown_keys_and_bad_values(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_overrides_parse_toml_values_and_fall_back_to_strings():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=0.5") == (["a"], 0.5)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=maml") == (["a"], "maml")
    assert parse_override('a=["x", "y"]') == (["a"], ["x", "y"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("novalue")
    raw = {"inner": {"rate": 0.1}}
    assert apply_overrides(raw, ["inner.rate=0.2", "title=y"]) == {
        "inner": {"rate": 0.2},
        "title": "y",
    }
    assert raw == {"inner": {"rate": 0.1}}  # the input is not modified


def test_dump_toml_round_trips(tmp_path):
    config = Outer('quote " and \\', Inner(rate=0.25, mode="b", names=("p",), limit=None))
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(to_dict(config)))
    assert from_dict(Outer, read_toml(path)) == config


def test_read_toml_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_toml(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("a = = 1")
    with pytest.raises(ConfigError, match="malformed TOML"):
        read_toml(bad)


def test_run_config_validates_ranges():
    with pytest.raises(ConfigError, match="run.iterations must be >= 1"):
        RunConfig(iterations=0)


def test_resolve_config_checks_kind_and_schema():
    with pytest.raises(ConfigError, match="no 'kind'"):
        resolve_config({}, [])
    with pytest.raises(ConfigError, match="unknown experiment kind 'supervised'"):
        resolve_config({"kind": "supervised"}, [])
    with pytest.raises(ConfigError, match="bad value 'mamll' for 'learner.algorithm'"):
        resolve_config({"kind": "fewshot"}, ["learner.algorithm=mamll"])
    with pytest.raises(ConfigError, match="shots must be >= 1, got shots=-1"):
        resolve_config({"kind": "fewshot"}, ["data.shots=-1"])
    _, config = resolve_config({"kind": "fewshot"}, ["learner.inner_lr=0.05"])
    assert config.learner.inner_lr == 0.05
