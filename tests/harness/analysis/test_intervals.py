"""Mean and t interval over seeds against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from harness.analysis.intervals import mean_ci


def test_mean_ci_matches_scipy_t_interval():
    values = [0.81, 0.84, 0.79, 0.88]
    mean, lo, hi = mean_ci(values, 0.95)
    ref = sps.t.interval(0.95, 3, loc=np.mean(values), scale=sps.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (lo, hi) == pytest.approx(ref)
    lo90, hi90 = mean_ci(values, 0.90)[1:]
    assert lo < lo90 < hi90 < hi


def test_mean_ci_edge_cases():
    assert mean_ci([0.7])[0] == 0.7 and np.isnan(mean_ci([0.7])[1:]).all()
    assert mean_ci([0.7, np.nan])[0] == 0.7  # NaN-safe: one value left
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert np.isnan(mean_ci([])).all()
