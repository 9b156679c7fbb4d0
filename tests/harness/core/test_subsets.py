"""The analysis subset: seeded, balanced by class (or target quantile), the same for every seed."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.errors import UserError
from harness.core.results import RunResult
from harness.core.subsets import analysis_subset, balanced_counts, importance_rows, nested_subset


def test_a_class_sorted_split_gives_a_balanced_subset():
    labels = np.repeat([0, 1], [700, 300])  # sorted by class, like Genomic Benchmarks
    rows = analysis_subset(labels, "binary", 200, seed=0)
    assert rows.dtype == np.int64 and len(rows) == 200
    assert np.all(np.diff(rows) > 0)  # sorted, no repeats
    assert np.bincount(labels[rows]).tolist() == [100, 100]
    assert np.bincount(labels[labels[:200]]).tolist() == [200]  # what the first 200 would be


def test_deterministic_given_the_seed_and_different_across_seeds():
    labels = np.random.default_rng(0).integers(0, 2, 500)
    a, b = analysis_subset(labels, "binary", 100, 3), analysis_subset(labels, "binary", 100, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, analysis_subset(labels, "binary", 100, 4))


def test_small_classes_give_all_they_have_and_the_rest_is_shared():
    labels = np.repeat([0, 1, 2], [5, 50, 50])
    rows = analysis_subset(labels, "multiclass", 41, seed=1)
    counts = np.bincount(labels[rows]).tolist()
    assert counts == [5, 18, 18]
    assert balanced_counts(np.array([2, 0, 9]), 20, np.random.default_rng(0)).tolist() == [2, 0, 9]


def test_regression_is_balanced_over_quantile_bins():
    y = np.sort(np.random.default_rng(0).lognormal(size=2000))  # sorted and skewed
    rows = analysis_subset(y, "regression", 100, seed=0)
    bins = np.quantile(y, np.linspace(0, 1, 11))
    assert np.histogram(y[rows], bins)[0].tolist() == [10] * 10


def test_m_at_least_n_gives_every_row_and_nested_subsets_stay_balanced():
    labels = np.repeat([0, 1], [30, 10])
    assert analysis_subset(labels, "binary", 40, 0).tolist() == list(range(40))
    outer = analysis_subset(np.repeat([0, 1], [700, 300]), "binary", 400, 0)
    inner = nested_subset(np.repeat([0, 1], [700, 300]), "binary", outer, 100, 0)
    assert set(inner) <= set(outer)
    assert np.bincount(np.repeat([0, 1], [700, 300])[inner]).tolist() == [50, 50]


def _run(importance, index, n_test):
    return RunResult(
        "d", "m", "m", 0, "binary", {}, {}, np.zeros(n_test), np.zeros(n_test),
        np.array([str(i) for i in range(n_test)]), importance, index,
    )  # fmt: skip


def test_importance_rows_are_the_recorded_index_and_never_guessed():
    assert importance_rows(_run(np.zeros((2, 5)), np.array([3, 7]), 10)).tolist() == [3, 7]
    assert importance_rows(_run(np.zeros((10, 5)), None, 10)).tolist() == list(range(10))
    with pytest.raises(UserError, match="importance_index"):
        importance_rows(_run(np.zeros((2, 5)), None, 10))
