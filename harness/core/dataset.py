"""The dataset contract shared by adapters, trainer, evaluation and reports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["binary", "multiclass", "regression"]
SPLITS = ("train", "val", "test")
VOCAB_SIZE = 6  # A, C, G, T, N, PAD
PAD_TOKEN = 5


@dataclass(frozen=True)
class DatasetInfo:
    """What a model builder may know about the data: shapes and task, never the data itself."""

    length: int
    task: Task
    n_classes: int
    vocab_size: int = VOCAB_SIZE
    pad_token: int = PAD_TOKEN

    @property
    def n_outputs(self) -> int:
        """Width of the model's output: 1 for binary/regression, ``n_classes`` for multiclass."""
        return self.n_classes if self.task == "multiclass" else 1


@dataclass(frozen=True)
class SplitView:
    """One split of a dataset.

    Attributes
    ----------
    tokens : np.ndarray, uint8, shape (n, L)
    labels : np.ndarray, shape (n,)
    ids : np.ndarray, str, shape (n,)   stable example ids, so predictions of two runs can be paired
    annotations : dict of arrays with first axis n
    """

    tokens: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    annotations: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class SequenceDataset:
    """Integer-encoded sequences with labels, deterministic splits, annotations and metadata.

    Attributes
    ----------
    tokens : np.ndarray, uint8, shape (n, L), over {A=0, C=1, G=2, T=3, N=4, PAD=5}
    labels : np.ndarray, shape (n,); float32 for regression, int64 for classification
    task : "binary" | "multiclass" | "regression"
    split : dict with keys train, val, test -> int index arrays into the first axis
    annotations : dict of arrays with first axis n, e.g. ``motif_mask`` bool (n, L),
        ``tss_index`` int (n,)
    meta : dict, JSON-serialisable facts about the source (name, class names, negatives scheme,
        leakage counts, noise ceiling, ...)
    ids : np.ndarray, str, shape (n,)
    """

    tokens: np.ndarray
    labels: np.ndarray
    task: Task
    split: dict[str, np.ndarray]
    annotations: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.tokens.dtype != np.uint8:
            raise ValueError("tokens must be a uint8 array of shape (n, L)")
        if len(self.labels) != len(self.tokens):
            raise ValueError("labels and tokens differ in length")
        if set(self.split) != set(SPLITS):
            raise ValueError(f"split must have exactly the keys {SPLITS}")
        if self.ids is None:
            object.__setattr__(self, "ids", np.array([str(i) for i in range(len(self.labels))]))
        for array in (self.tokens, self.labels, self.ids, *self.split.values()):
            array.setflags(write=False)

    @property
    def length(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def n_classes(self) -> int:
        if self.task == "regression":
            return 1
        return int(self.meta.get("n_classes", int(self.labels.max()) + 1))

    @property
    def info(self) -> DatasetInfo:
        return DatasetInfo(length=self.length, task=self.task, n_classes=self.n_classes)

    def view(self, name: str) -> SplitView:
        """The split ``name`` (train, val or test) as its own arrays."""
        idx = self.split[name]
        return SplitView(
            tokens=self.tokens[idx],
            labels=self.labels[idx],
            ids=self.ids[idx],
            annotations={k: v[idx] for k, v in self.annotations.items()},
        )

    def fingerprint(self) -> str:
        """A short content hash of tokens, labels and splits (logged as a run tag)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.tokens).tobytes())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        for name in SPLITS:
            h.update(np.ascontiguousarray(self.split[name]).tobytes())
        return h.hexdigest()[:16]
