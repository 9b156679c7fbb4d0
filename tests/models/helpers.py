"""Builders shared by the model tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.config.study import TrainConfig
from harness.core.dataset import DatasetInfo, SplitView
from harness.core.model import FittedModel, SequenceModel
from harness.core.registry import MODELS, get_model, load_plugins

# Settings some registered models need for the contract tests to be fast and about the contract.
# Only an override table: every registered model is tested (tests/models/test_contract.py
# discovers them in the registry), one without an entry with its defaults.
CONTRACT_PARAMS: dict[str, dict[str, Any]] = {
    "kmer_logreg": {"k": 3},  # 64 features instead of 2,080: the contract, not the model, on test
    # the contract's tiny-batch fit gives teacher-guided models a fixed untrained teacher (fast,
    # about the student); at full weight, matching a random teacher's outputs fights the task
    "sparse_distilled": {"distill_weight": 0.1},
}
TORCH, FITTED = "torch", "fitted"


def registered_models() -> list[str]:
    """Every registered model name, sorted (the models package imported first)."""
    load_plugins()
    return sorted(MODELS)


def model_kind(name: str) -> str | None:
    """``"torch"`` (a :class:`SequenceModel`), ``"fitted"`` (a :class:`FittedModel`) or None.

    Read from the registered class, or from a built instance when the factory is a function.
    """
    factory = get_model(name).factory
    if isinstance(factory, type):
        kind = factory
    else:
        kind = type(build(name, make_info("binary", 64), **CONTRACT_PARAMS.get(name, {})))
    if issubclass(kind, SequenceModel):
        return TORCH
    return FITTED if issubclass(kind, FittedModel) else None


def models_of_kind(kind: str) -> list[str]:
    """Registered models of one kind, for ``pytest.mark.parametrize``."""
    return [name for name in registered_models() if model_kind(name) == kind]


def build_contract(name: str, info: DatasetInfo, **params: Any):
    """A registered model with its :data:`CONTRACT_PARAMS`, then ``params``, over its defaults."""
    return build(name, info, **{**CONTRACT_PARAMS.get(name, {}), **params})


def make_info(task: str = "binary", length: int = 50, n_classes: int | None = None) -> DatasetInfo:
    if n_classes is None:
        n_classes = {"binary": 2, "regression": 1, "multiclass": 3}[task]
    return DatasetInfo(length=length, task=task, n_classes=n_classes)


def build(name: str, info: DatasetInfo, **params: Any):
    """A registered model with ``params`` over its defaults."""
    entry = get_model(name)
    return entry.factory(entry.params(**params), info)


def tiny_config(**overrides: Any) -> TrainConfig:
    """One thread, no early stopping, no test split involvement."""
    base = {"epochs": 3, "batch_size": 16, "threads": 1, "patience": 0}
    return TrainConfig(**{**base, **overrides})


def random_tokens(n: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).integers(0, 4, size=(n, length)))


def view_of(tokens: np.ndarray, labels: np.ndarray) -> SplitView:
    return SplitView(
        tokens=np.asarray(tokens, dtype=np.uint8),
        labels=np.asarray(labels),
        ids=np.array([str(i) for i in range(len(labels))]),
    )
