"""Evaluation: importance and masking curves on the seeded, class-balanced analysis subset."""

from __future__ import annotations

import numpy as np

from harness.config.study import EvaluationConfig
from harness.core.dataset import SequenceDataset, SplitView
from harness.core.model import FittedModel
from harness.core.subsets import analysis_subset
from harness.train.evaluate import evaluate


class FirstBase(FittedModel):
    """P(class 1) from the first base; importance: the first position only."""

    def fit(self, train: SplitView, val: SplitView) -> dict[str, float]:
        return {}

    def predict(self, tokens: np.ndarray) -> np.ndarray:
        return (np.asarray(tokens)[:, 0] == 0).astype(np.float64)

    def importance(self, tokens: np.ndarray) -> np.ndarray:
        out = np.zeros(np.asarray(tokens).shape, dtype=np.float32)
        out[:, 0] = 1.0
        return out

    def macs(self, length: int) -> int:
        return 0


def _dataset() -> SequenceDataset:
    rng = np.random.default_rng(0)
    n, length = 400, 20
    tokens = rng.integers(1, 4, (n, length)).astype(np.uint8)
    labels = np.repeat([0, 1], [300, 100])  # the test split below is sorted by class
    tokens[labels == 1, 0] = 0
    split = {"train": np.arange(0, 400, 4), "val": np.arange(1, 400, 4)}
    split["test"] = np.sort(np.r_[np.arange(2, 400, 4), np.arange(3, 400, 4)])
    return SequenceDataset(tokens, labels.astype(np.int64), "binary", split)


def test_importance_and_curves_use_the_balanced_subset_of_the_recorded_seed():
    ds = _dataset()
    cfg = EvaluationConfig(importance_max_examples=60, ablation_max_examples=40, subset_seed=5)
    out = evaluate(FirstBase(ds.info), ds, cfg, seed=0)
    test = ds.view("test")
    rows = out["importance_index"]
    assert np.array_equal(rows, analysis_subset(test.labels, "binary", 60, 5))
    assert np.bincount(test.labels[rows]).tolist() == [30, 30]
    assert out["importance"].shape == (60, 20)
    assert np.array_equal(out["importance"], FirstBase(ds.info).importance(test.tokens[rows]))
    curve_rows = out["ablation"]["index"]
    assert set(curve_rows) <= set(rows) and np.bincount(test.labels[curve_rows]).tolist() == [
        20,
        20,
    ]
    # the chance level is the constant predictor's accuracy on those balanced rows, not 0.75
    assert out["ablation"]["chance"].tolist() == [0.5]
    assert out["ablation"]["high_to_low"][0] == 1.0  # perfect until the first base is masked
    again = evaluate(FirstBase(ds.info), ds, cfg, seed=3)  # another training seed: same rows
    assert np.array_equal(again["importance_index"], rows)
