"""Fixtures of the end-to-end suites."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JAX compilation cache for every JAX driver and executor of the test session."""
    return tmp_path_factory.mktemp("jax-cache")
