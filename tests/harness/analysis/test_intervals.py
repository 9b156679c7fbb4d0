"""Intervals over seeds: t intervals within a metric's bounds, two-level SE, seeds needed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from harness.analysis.intervals import (
    UNBOUNDED,
    bounded_interval,
    detectable_difference,
    from_scale,
    mean_ci,
    metric_bounds,
    seeds_needed,
    to_scale,
    two_level_se,
)


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


def test_a_bounded_interval_never_leaves_the_metric_range():
    auroc = [0.999, 0.97, 0.998]
    mean, lo, hi = mean_ci(auroc, bounds=metric_bounds("auroc"))
    assert sps.t.interval(0.95, 2, loc=mean, scale=sps.sem(auroc))[1] > 1  # the plain one does
    assert lo < mean < hi < 1
    pearson = [-0.99, -0.9, -0.999]
    _, lo, hi = mean_ci(pearson, bounds=metric_bounds("pearson"))
    assert -1 < lo < hi < 0
    _, lo, _ = mean_ci([0.01, 0.3, 0.002], bounds=metric_bounds("mse"))
    assert lo > 0
    # far from the bounds the interval is close to the plain t interval
    plain = mean_ci([0.61, 0.6, 0.62])
    assert mean_ci([0.61, 0.6, 0.62], bounds=(0, 1)) == pytest.approx(plain, abs=1e-3)


def test_bounded_interval_edge_cases():
    assert bounded_interval(1.0, 0.0, 2, (0, 1)) == (1.0, 1.0)  # every seed at the bound
    assert np.isnan(bounded_interval(1.0, 0.01, 2, (0, 1))).all()
    lo, hi = bounded_interval(np.array([0.5, 0.9]), np.array([0.1, 0.1]), np.inf, (0, 1))
    assert lo[0] == pytest.approx(1 - hi[0]) and hi[1] < 1  # symmetric at 0.5


def test_to_scale_inverts():
    for bounds in [(0, 1), (-1, 1), (0, np.inf), (-np.inf, 1), UNBOUNDED]:
        x = np.array([0.3, -0.2 if bounds[0] < -0.2 else 0.2, 0.9])
        assert from_scale(to_scale(x, bounds), bounds) == pytest.approx(x)
    assert to_scale(0.5, (-1, 1)) == pytest.approx(2 * np.arctanh(0.5))  # twice Fisher's z


def test_seeds_needed():
    values = [0.80, 0.82, 0.84]  # sd 0.02
    n = seeds_needed(values, 0.01)
    half = lambda k: sps.t.ppf(0.975, k - 1) * 0.02 / np.sqrt(k)  # noqa: E731
    assert half(n) < 0.01 <= half(n - 1)
    assert seeds_needed(values, 1.0) == 2
    assert seeds_needed(values, 1e-4) is None  # beyond max_seeds
    assert seeds_needed([0.8, 0.8], 0.01) is None and seeds_needed([0.8], 0.01) is None
    assert seeds_needed(values, 0.01, max_seeds=n) == n


def test_detectable_difference_is_the_power_80_distance():
    mdd = float(detectable_difference(0.01, np.inf))
    assert mdd == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-5)
    assert detectable_difference(0.01, 2) > mdd


def test_two_level_se_of_a_mean_adds_the_seed_and_example_parts():
    rng = np.random.default_rng(0)
    point = rng.normal(0.8, 0.02, (4, 1))
    no_examples = np.broadcast_to(point, (50, 4, 1))  # resamples that change nothing
    tl = two_level_se(point, no_examples, lambda m: m[..., 0])
    assert tl.se == pytest.approx(sps.sem(point[:, 0])) and tl.df == pytest.approx(3)
    shift = rng.normal(0, 0.05, (50, 1, 1))  # a test-set effect shared by every seed
    tl = two_level_se(point, no_examples + shift, lambda m: m[..., 0])
    assert tl.example_var == pytest.approx(np.var(shift, ddof=1))
    assert tl.se**2 == pytest.approx(sps.sem(point[:, 0]) ** 2 + tl.example_var)
    assert tl.df > 3
    assert np.isnan(two_level_se(point[:1], no_examples[:, :1], lambda m: m[..., 0]).se)
