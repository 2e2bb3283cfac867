"""Fixtures shared by the test suite."""

import sys
from collections.abc import Callable, Iterator

import gymnasium
import pytest
import torch

from metarl.envs import families


def central_differences(loss: Callable[[], float], tensors, eps: float = 1e-6) -> torch.Tensor:
    """``(loss(x + eps) − loss(x − eps)) / 2 eps`` for every entry ``x`` of ``tensors`` (changed in
    place, then restored), flattened in order: the numerical gradient tests compare against."""
    numeric = []
    with torch.no_grad():
        for tensor in tensors:
            flat = tensor.view(-1)
            for i in range(flat.numel()):
                original = flat[i].item()
                flat[i] = original + eps
                plus = loss()
                flat[i] = original - eps
                minus = loss()
                flat[i] = original
                numeric.append((plus - minus) / (2 * eps))
    return torch.tensor(numeric)


@pytest.fixture(name="central_differences")
def central_differences_fixture() -> Callable[..., torch.Tensor]:
    """:func:`central_differences`."""
    return central_differences


@pytest.fixture
def double_precision():
    """Run a test with float64 as torch's default dtype (for tight gradient checks)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray instance of 2 CPUs for the whole session (skips without the ray extra)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (make setup-ray)")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


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
