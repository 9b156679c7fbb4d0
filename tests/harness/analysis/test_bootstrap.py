"""Weighted (bootstrap) metrics against compute_metrics."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.bootstrap import BOOTSTRAP_METRICS, weighted_metric
from harness.core.metrics import compute_metrics


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_weighted_metrics_equal_compute_metrics_with_unit_weights(task):
    rng = np.random.default_rng(1)
    n = 150
    if task == "binary":
        y = rng.integers(0, 2, n)
        s = np.clip(y * 0.3 + rng.random(n) * 0.7, 0, 1)
    elif task == "regression":
        y = rng.normal(size=n)
        s = 0.5 * y + rng.normal(size=n)
    else:
        y = rng.integers(0, 3, n)
        s = rng.dirichlet([1, 1, 1], n)
        s[np.arange(n), y] += 0.4
    ref = compute_metrics(task, y, s)
    for metric in BOOTSTRAP_METRICS[task]:
        got = weighted_metric(task, metric, y, s, np.ones((1, n)))[0]
        assert got == pytest.approx(ref[metric], abs=1e-9), metric


def test_weighted_metric_equals_metric_on_the_resample():
    rng = np.random.default_rng(2)
    y = rng.normal(size=60)
    s = y + rng.normal(size=60)
    idx = rng.integers(0, 60, 60)
    w = np.bincount(idx, minlength=60)[None, :].astype(float)
    ref = compute_metrics("regression", y[idx], s[idx])
    for metric in ("mse", "pearson", "r2"):
        assert weighted_metric("regression", metric, y, s, w)[0] == pytest.approx(ref[metric])
