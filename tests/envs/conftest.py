"""Fixtures for tests that register families: the registry is restored after each."""

import sys
from collections.abc import Iterator

import gymnasium
import pytest

from metarl.envs import families


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Undo every family, Gymnasium id and plugin module a test registers or imports."""
    known, ids, modules = dict(families.FAMILIES), set(gymnasium.registry), set(sys.modules)
    yield
    forget_new(known, ids, modules)


def forget_new(known: dict, ids: set, modules: set) -> None:
    """Forget the families, ids and modules not in these snapshots (a fresh ``metarl`` process)."""
    for name in set(families.FAMILIES) - set(known):
        del families.FAMILIES[name]
    for env_id in set(gymnasium.registry) - ids:
        del gymnasium.registry[env_id]
    for name in set(sys.modules) - modules:
        if name.startswith("metarl_plugin_"):
            del sys.modules[name]
