"""Fixtures shared by the test suite."""

import sys
from collections.abc import Callable, Iterator

import gymnasium
import pytest
import torch

from metarl.envs import families


@pytest.fixture
def double_precision():
    """Run a test with float64 as torch's default dtype (for tight gradient checks)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def clean_registry() -> Iterator[Callable[[], None]]:
    """Undo every family, Gymnasium id and plugin module a test registers or imports; the test
    can call the yielded function to do so early (as if its next command were a new process)."""
    known, ids, modules = dict(families.FAMILIES), set(gymnasium.registry), set(sys.modules)

    def forget() -> None:
        for name in set(families.FAMILIES) - set(known):
            del families.FAMILIES[name]
        for env_id in set(gymnasium.registry) - ids:
            del gymnasium.registry[env_id]
        for name in set(sys.modules) - modules:
            if name.startswith("metarl_plugin_"):
                del sys.modules[name]

    yield forget
    forget()
