"""Builders shared by the model tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.config.study import TrainConfig
from harness.core.dataset import DatasetInfo, SplitView
from harness.core.registry import get_model

TORCH_MODELS = (
    "attention",
    "gb_cnn",
    "sparse_attention",
    "sparse_distilled",
    "joint_pipeline",
    "teacher_student",
    "attngen",
    "attngen_random_kl",
    "attngen_no_kl",
)
FITTED_MODELS = ("kmer_logreg", "constant")
TEACHER_MODELS = ("sparse_distilled", "teacher_student")


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
