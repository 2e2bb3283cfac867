"""Fixtures shared by the test suite."""

import pytest
import torch


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
