"""Paired tests over seeds against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from harness.analysis.seed_tests import paired_seed_tests


def test_paired_seed_tests_match_scipy():
    a, b = [0.90, 0.85, 0.88, 0.91, 0.86, 0.89], [0.80, 0.82, 0.83, 0.84, 0.79, 0.85]
    out = paired_seed_tests(a, b)
    assert out["t_p"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert out["wilcoxon_p"] == pytest.approx(sps.wilcoxon(np.subtract(a, b)).pvalue)
    assert out["wilcoxon_p"] == pytest.approx(2 / 2**6)  # exact: all 6 differences positive
    assert out["diff_ci_lo"] > 0
    assert paired_seed_tests([1, 2], [1, 2])["t_p"] == 1.0
