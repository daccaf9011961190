"""Shared fixtures of the GaFET network tests."""

from __future__ import annotations

import pytest
import torch

from core.nets.config import GafetConfig, preset


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and on shared cores extra threads mostly spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny() -> GafetConfig:
    return preset("tiny-64")
