"""Plugins: the modules that register users' task families, named by a config's ``[env] plugins``.

An entry is a module name (``"my_tasks"``) or a Python file (``"plugins/my_tasks.py"``). Both are
looked up in the config's folder first, then the working directory (a module name last on
``sys.path``, as an installed package). At ``metarl train`` each entry is resolved to an absolute
file path (or kept as a module name if installed) and stored so in the run's ``config.toml``, so
``--resume``, ``evaluate`` and ``plot`` find it again from anywhere. Installed packages can also
register families through the entry-point group ``metarl.families`` (see
:func:`metarl.envs.families.load_entry_points`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from metarl.errors import TaskError


def resolve_plugin(entry: str, folders: list[Path]) -> str:
    """The absolute path of the file ``entry`` names in the first of ``folders`` that has it,
    or ``entry`` itself when it is an importable module name; TaskError otherwise."""
    if not isinstance(entry, str) or not entry:
        raise TaskError(f"[env] plugins entries must be non-empty strings, got {entry!r}")
    if entry.endswith(".py") or "/" in entry:
        candidates = [Path(entry)] if Path(entry).is_absolute() else [f / entry for f in folders]
    else:
        relative = Path(*entry.split("."))
        candidates = [
            path
            for folder in folders
            for path in (folder / relative.with_suffix(".py"), folder / relative / "__init__.py")
        ]
    for path in candidates:
        if path.is_file():
            return str(path.resolve())
    if not entry.endswith(".py") and importlib.util.find_spec(entry.split(".")[0]) is not None:
        return entry
    where = ", ".join(str(folder) for folder in folders)
    raise TaskError(f"plugin {entry!r} not found (looked in {where} and installed modules)")


def load_plugin(entry: str) -> None:
    """Import the plugin ``entry`` (a file path or a module name), once per process."""
    is_file = entry.endswith(".py") or Path(entry).is_absolute()
    if is_file:
        path = Path(entry)
        name = f"metarl_plugin_{path.stem}_{hashlib.sha1(entry.encode()).hexdigest()[:8]}"
    else:
        name = entry
    if name in sys.modules:
        return
    try:
        if is_file:
            if not path.is_file():
                raise TaskError(f"plugin file not found: {entry}")
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        else:
            importlib.import_module(entry)
    except TaskError as error:
        raise TaskError(f"plugin {entry}: {error}") from None
    except Exception as error:
        raise TaskError(f"plugin {entry} failed to import: {_describe(error)}") from None


def _describe(error: Exception) -> str:
    """The error and, for one raised in a file, the file and line it was raised at."""
    frames = []
    traceback = error.__traceback__
    while traceback is not None:
        frames.append(traceback)
        traceback = traceback.tb_next
    if isinstance(error, SyntaxError) and error.filename:
        return f"SyntaxError at {error.filename}:{error.lineno}: {error.msg}"
    last = frames[-1] if frames else None
    where = f" ({last.tb_frame.f_code.co_filename}:{last.tb_lineno})" if last else ""
    return f"{type(error).__name__}: {error}{where}"


def prepare_plugins(raw: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    """Import the plugins of a raw config; return it with each entry resolved (see the module).

    Args:
        raw: the config as read from TOML (a config without ``env.plugins`` is returned as is).
        folder: the config file's folder (None for a run's stored config: entries are resolved).
    """
    env = raw.get("env")
    if not isinstance(env, dict) or "plugins" not in env:
        return raw
    entries = env["plugins"]
    if not isinstance(entries, list):
        raise TaskError(f"[env] plugins must be a list of module names or files, got {entries!r}")
    folders = [Path.cwd()] if folder is None else [folder, Path.cwd()]
    resolved = [resolve_plugin(entry, folders) for entry in entries]
    for entry in resolved:
        load_plugin(entry)
    return {**raw, "env": {**env, "plugins": resolved}}
