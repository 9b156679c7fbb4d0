"""Pairing a model with the reference: metric direction, shared test examples, retention."""

from __future__ import annotations

import numpy as np

from harness.core.metrics import LOWER_IS_BETTER
from harness.core.results import RunResult


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def align_runs(a: RunResult, b: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test examples both runs scored, in ``a``'s order: ``(y_true (n,), score_a, score_b)``."""
    if len(a.ids) == len(b.ids) and np.array_equal(a.ids, b.ids):
        return np.asarray(a.y_true), np.asarray(a.y_score), np.asarray(b.y_score)
    pos_b = {str(k): i for i, k in enumerate(b.ids)}
    ia = np.array([i for i, k in enumerate(a.ids) if str(k) in pos_b], dtype=int)
    ib = np.array([pos_b[str(a.ids[i])] for i in ia], dtype=int)
    return np.asarray(a.y_true)[ia], np.asarray(a.y_score)[ia], np.asarray(b.y_score)[ib]


def retention_ratio(
    model: np.ndarray | float, reference: np.ndarray | float, metric: str
) -> np.ndarray:
    """Fraction of the reference's performance a model keeps: model / reference, or reference /
    model for lower-is-better metrics (MSE), so that 1 means "as good" and < 1 "worse"."""
    model, reference = np.asarray(model, dtype=np.float64), np.asarray(reference, np.float64)
    num, den = (model, reference) if higher_is_better(metric) else (reference, model)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den
