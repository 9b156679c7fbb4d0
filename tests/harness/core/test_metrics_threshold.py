"""The binary decision threshold: chosen on validation scores, applied by compute_metrics."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from harness.core.metrics import binary_metrics, choose_threshold, compute_metrics


def _brute_force(y: np.ndarray, s: np.ndarray) -> float:
    """Best MCC over every midpoint candidate, by sklearn."""
    values = np.unique(s)
    cands = (values[:-1] + values[1:]) / 2
    return max(skm.matthews_corrcoef(y, (s >= t).astype(int)) for t in cands)


def test_choose_threshold_maximises_validation_mcc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.clip(0.25 + 0.3 * y + rng.normal(0, 0.2, 300), 0, 1)  # calibrated low: best t < 0.5
    t = choose_threshold(y, s)
    assert t < 0.5
    got = skm.matthews_corrcoef(y, (s >= t).astype(int))
    assert np.isclose(got, _brute_force(y, s))
    assert got > binary_metrics(y, s)["mcc"]  # better than the default 0.5 on this data


def test_choose_threshold_ties_go_to_half_and_degenerate_cases():
    y = np.array([0, 0, 1, 1])
    # any cut between 0.2 and 0.8 separates perfectly: 0.5 is the midpoint, so it is kept
    assert choose_threshold(y, np.array([0.1, 0.2, 0.8, 0.9])) == 0.5
    assert choose_threshold(y, np.full(4, 0.3)) == 0.5  # one distinct score
    assert choose_threshold(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4])) == 0.5  # one class


def test_compute_metrics_threshold_applies_to_binary_only():
    y = np.array([0, 1, 1, 0])
    s = np.array([0.1, 0.4, 0.45, 0.3])
    default = compute_metrics("binary", y, s)
    shifted = compute_metrics("binary", y, s, threshold=0.35)
    assert default["accuracy"] == 0.5 and shifted["accuracy"] == 1.0
    assert default["auroc"] == shifted["auroc"]  # threshold-free metrics unchanged
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert compute_metrics("multiclass", np.array([0, 1]), probs, threshold=0.99)["accuracy"] == 1
