"""Adapter test fixtures: the tiny fixture files, a private binary cache per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.load import validate_params
from harness.core.registry import ADAPTERS, load_plugins

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "adapters"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Every test converts into its own cache folder, never the repo's ``.cache``."""
    cache = tmp_path / "harness-cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def fx() -> Path:
    """The folder of tiny generated fixture files (see its make_fixtures.py)."""
    return FIXTURES


@pytest.fixture
def load_adapter():
    """``load_adapter(adapter, seed=0, **params)``: validate params, load via the registry."""
    load_plugins()

    def load(adapter: str, seed: int = 0, **params):
        entry = ADAPTERS[adapter]
        return entry.factory(validate_params(entry.params, params, ("params",)), seed)

    return load
