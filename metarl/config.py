"""Typed experiment configs: frozen dataclasses loaded from TOML and overridden from the CLI.

Loading is strict: a key the schema does not know, or a value of the wrong type or outside a
``Literal``'s choices, raises :class:`~metarl.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from metarl.errors import ConfigError

T = TypeVar("T")


def from_dict(schema: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build the dataclass ``schema`` from nested dicts, rejecting unknown keys and bad types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key {key!r}; known keys here: {sorted(fields)}")
    hints = typing.get_type_hints(schema)
    values = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        values[name] = _coerce(hints[name], value, key)
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        key = f"{where}.{missing[0]}" if where else missing[0]
        raise ConfigError(f"missing config key {key!r}")
    try:
        return schema(**values)
    except ConfigError as error:
        raise ConfigError(f"{where or 'config'}: {error}") from None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"bad value {value!r} for {key!r}; choose one of {list(choices)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key!r} must be a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is Any or (isinstance(hint, type) and isinstance(value, hint)):
        if hint is int and isinstance(value, bool):
            raise ConfigError(f"{key!r} must be an integer, got {value!r}")
        return value
    raise ConfigError(f"{key!r} must be of type {getattr(hint, '__name__', hint)}, got {value!r}")


def require_at_least(section: object, minimum: float, *names: str) -> None:
    """ConfigError unless each named field of ``section`` is None or at least ``minimum``."""
    for name in names:
        value = getattr(section, name)
        if value is not None and value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {name}={value}")


def to_dict(config: Any) -> dict[str, Any]:
    """The config as nested plain dicts (tuples become lists, ``None`` entries are dropped)."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if v is not None}
        return value

    return plain(dataclasses.asdict(config))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"section.key=value"`` into its key path and TOML-parsed value.

    A value that is not valid TOML (e.g. a bare word) is taken as a string.
    """
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of the raw config ``data`` with each ``key=value`` override applied."""
    result = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        table = result
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a table")
        table[path[-1]] = value
    return result


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning a missing file or a syntax error into a ConfigError."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"malformed TOML in {path}: {error}") from None


def dump_toml(data: dict[str, Any]) -> str:
    """Write nested dicts of scalars and lists as TOML (tables after the top-level keys)."""
    lines: list[str] = []

    def write(table: dict[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if prefix and scalars:
            lines.append(f"\n[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {_toml_value(value)}")
        for key, value in tables.items():
            write(value, f"{prefix}.{key}" if prefix else key)

    write(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What every experiment has: seed, length, and how often to log and checkpoint.

    Attributes:
        name: prefix of the default run directory ``runs/<name>-<timestamp>``.
        seed: seeds model initialisation and every sampled task, episode and rollout.
        iterations: number of meta-iterations (outer updates).
        log_every: iterations between metric lines (metrics.jsonl, TensorBoard).
        checkpoint_every: iterations between checkpoints (the last iteration always saves).
        on_nonfinite: a NaN or infinite loss, return, gradient or parameter "stop"s the run
            (exit 2, the last good checkpoint kept), or "skip"s the iteration (state restored).
    """

    name: str = "run"
    seed: int = 0
    iterations: int = 1000
    log_every: int = 10
    checkpoint_every: int = 100
    on_nonfinite: typing.Literal["stop", "skip"] = "stop"

    def __post_init__(self) -> None:
        for key in ("iterations", "log_every", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"run.{key} must be >= 1, got {getattr(self, key)}")
        if self.seed < 0:
            raise ConfigError(f"run.seed must be >= 0, got {self.seed}")
