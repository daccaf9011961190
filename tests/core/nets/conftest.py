"""Shared fixtures of the GaFET network tests."""

from __future__ import annotations

import pytest

from core.nets.config import GafetConfig, preset


@pytest.fixture
def tiny() -> GafetConfig:
    return preset("tiny-64")
