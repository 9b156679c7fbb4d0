"""Shared fixtures: a private MLflow store per test, real data with CI semantics, one thread."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory) -> Path:
    """An empty SQLite MLflow store with its schema migrated once per session: creating one
    runs every alembic migration (seconds), copying it takes milliseconds."""
    path = tmp_path_factory.mktemp("store_template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def fresh_store(path: Path, template: Path) -> str:
    """A copy of the migrated empty store at ``path``; its SQLite URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(tmp_path, monkeypatch, migrated_store) -> str:
    """A fresh SQLite MLflow store in tmp_path; the working directory is tmp_path too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return fresh_store(tmp_path / "mlflow.db", migrated_store)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repo: required in CI, skipped elsewhere when absent."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"real data missing in CI: {SHARED_DATA}")
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


def write_study(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
