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
