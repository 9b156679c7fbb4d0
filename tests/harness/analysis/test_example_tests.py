"""Example-level tests (McNemar, DeLong) against reference values (statsmodels, sklearn, the
paired bootstrap, hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from harness.analysis.bootstrap import paired_bootstrap
from harness.analysis.example_tests import delong_test, mcnemar_test


def test_mcnemar_on_a_known_table():
    # b = 1 example only model a gets right, c = 9 only model b gets right, 10 both, 5 neither
    y = np.zeros(25, dtype=int)
    pred_a = np.r_[np.zeros(10), np.zeros(1), np.ones(9), np.ones(5)].astype(int)
    pred_b = np.r_[np.zeros(10), np.ones(1), np.zeros(9), np.ones(5)].astype(int)
    out = mcnemar_test(y, pred_a, pred_b)
    assert (out["b"], out["c"]) == (1, 9)
    # exact two-sided binomial: 2 * P(X <= 1 | n=10, p=1/2) = 2 * 11 / 1024
    assert out["pvalue"] == pytest.approx(22 / 1024)
    assert mcnemar_test(y, pred_a, pred_a)["pvalue"] == 1.0


def test_delong_agrees_with_sklearn_and_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    a = y * 0.3 + rng.random(300) * 0.7
    a[:30] = 0.5  # ties are handled by mid-ranks
    b = np.clip(a + rng.normal(0, 0.2, 300), 0, 1)
    out = delong_test(y, a, b)
    assert out["auc_a"] == pytest.approx(roc_auc_score(y, a))
    assert out["auc_b"] == pytest.approx(roc_auc_score(y, b))
    boot = paired_bootstrap("binary", "auroc", y, a, b, n_boot=2000, seed=1)
    assert boot["diff"] == pytest.approx(out["diff"])
    assert out["se"] == pytest.approx(boot["se"], rel=0.15)
    assert out["pvalue"] < 0.05 and boot["pvalue"] < 0.05
    assert delong_test(y, a, a)["pvalue"] == 1.0


def test_delong_accepts_equal_models():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    a = y + rng.normal(0, 1.0, 400)
    b = y + rng.normal(0, 1.0, 400)  # same quality, independent noise
    assert delong_test(y, a, b)["pvalue"] > 0.05
