"""Significance tests against reference values (scipy / statsmodels / hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from harness.analysis import stats
from harness.core.errors import UserError
from harness.core.metrics import compute_metrics
from harness.core.results import RunResult


def _run(model: str, seed: int, y: np.ndarray, score: np.ndarray, task: str = "binary"):
    base = np.full(len(y), float(np.mean(y)))
    return RunResult(
        dataset="d",
        model=model,
        model_name=model,
        seed=seed,
        task=task,
        metrics=compute_metrics(task, y, score),
        baseline_metrics=compute_metrics(task, y, base),
        y_true=y,
        y_score=score,
        ids=np.array([f"s{seed}_{i}" for i in range(len(y))]),
    )


def _binary_study(n: int = 200, seeds=(0, 1, 2)) -> list[RunResult]:
    """'ref' is informative, 'weak' is nearly random, 'twin' is ref plus tiny noise."""
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        good = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.2, n), 0, 1)
        weak = np.clip(0.5 + (y - 0.5) * 0.05 + rng.normal(0, 0.2, n), 0, 1)
        twin = np.clip(good + rng.normal(0, 1e-3, n), 0, 1)
        out += [
            _run("ref", seed, y, good),
            _run("weak", seed, y, weak),
            _run("twin", seed, y, twin),
        ]
    return out


# ------------------------------------------------------------------------- mean_ci
def test_mean_ci_matches_scipy_t_interval():
    values = [0.81, 0.84, 0.79, 0.88]
    mean, lo, hi = stats.mean_ci(values, 0.95)
    ref = sps.t.interval(0.95, 3, loc=np.mean(values), scale=sps.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (lo, hi) == pytest.approx(ref)
    lo90, hi90 = stats.mean_ci(values, 0.90)[1:]
    assert lo < lo90 < hi90 < hi


def test_mean_ci_edge_cases():
    assert stats.mean_ci([0.7])[0] == 0.7 and np.isnan(stats.mean_ci([0.7])[1:]).all()
    assert stats.mean_ci([0.7, np.nan])[0] == 0.7  # NaN-safe: one value left
    assert stats.mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert np.isnan(stats.mean_ci([])).all()


def test_paired_seed_tests_match_scipy():
    a, b = [0.90, 0.85, 0.88, 0.91, 0.86, 0.89], [0.80, 0.82, 0.83, 0.84, 0.79, 0.85]
    out = stats.paired_seed_tests(a, b)
    assert out["t_p"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert out["wilcoxon_p"] == pytest.approx(sps.wilcoxon(np.subtract(a, b)).pvalue)
    assert out["wilcoxon_p"] == pytest.approx(2 / 2**6)  # exact: all 6 differences positive
    assert out["diff_ci_lo"] > 0
    assert stats.paired_seed_tests([1, 2], [1, 2])["t_p"] == 1.0


# --------------------------------------------------------------------- example-level
def test_mcnemar_on_a_known_table():
    # b = 1 example only model a gets right, c = 9 only model b gets right, 10 both, 5 neither
    y = np.zeros(25, dtype=int)
    pred_a = np.r_[np.zeros(10), np.zeros(1), np.ones(9), np.ones(5)].astype(int)
    pred_b = np.r_[np.zeros(10), np.ones(1), np.zeros(9), np.ones(5)].astype(int)
    out = stats.mcnemar_test(y, pred_a, pred_b)
    assert (out["b"], out["c"]) == (1, 9)
    # exact two-sided binomial: 2 * P(X <= 1 | n=10, p=1/2) = 2 * 11 / 1024
    assert out["pvalue"] == pytest.approx(22 / 1024)
    assert stats.mcnemar_test(y, pred_a, pred_a)["pvalue"] == 1.0


def test_delong_agrees_with_sklearn_and_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    a = y * 0.3 + rng.random(300) * 0.7
    a[:30] = 0.5  # ties are handled by mid-ranks
    b = np.clip(a + rng.normal(0, 0.2, 300), 0, 1)
    out = stats.delong_test(y, a, b)
    assert out["auc_a"] == pytest.approx(roc_auc_score(y, a))
    assert out["auc_b"] == pytest.approx(roc_auc_score(y, b))
    boot = stats.paired_bootstrap("binary", "auroc", y, a, b, n_boot=2000, seed=1)
    assert boot["diff"] == pytest.approx(out["diff"])
    assert out["se"] == pytest.approx(boot["se"], rel=0.15)
    assert out["pvalue"] < 0.05 and boot["pvalue"] < 0.05
    assert stats.delong_test(y, a, a)["pvalue"] == 1.0


def test_delong_accepts_equal_models():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    a = y + rng.normal(0, 1.0, 400)
    b = y + rng.normal(0, 1.0, 400)  # same quality, independent noise
    assert stats.delong_test(y, a, b)["pvalue"] > 0.05


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
    for metric in stats.BOOTSTRAP_METRICS[task]:
        got = stats.weighted_metric(task, metric, y, s, np.ones((1, n)))[0]
        assert got == pytest.approx(ref[metric], abs=1e-9), metric


def test_weighted_metric_equals_metric_on_the_resample():
    rng = np.random.default_rng(2)
    y = rng.normal(size=60)
    s = y + rng.normal(size=60)
    idx = rng.integers(0, 60, 60)
    w = np.bincount(idx, minlength=60)[None, :].astype(float)
    ref = compute_metrics("regression", y[idx], s[idx])
    for metric in ("mse", "pearson", "r2"):
        assert stats.weighted_metric("regression", metric, y, s, w)[0] == pytest.approx(ref[metric])


# ------------------------------------------------------------------- corrections
def test_holm_on_known_pvalues():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert stats.adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_on_known_pvalues_and_nan_passthrough():
    p = [0.01, 0.04, 0.03, np.nan, 0.005]
    out = stats.adjust_pvalues(p, "bh")
    assert np.isnan(out[3])
    assert out[[0, 1, 2, 4]] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    with pytest.raises(UserError):
        stats.adjust_pvalues(p, "nonsense")


# ---------------------------------------------------------------------- study level
def test_compare_detects_a_real_difference_and_not_a_twin():
    results = _binary_study()
    frame = stats.compare(results, "ref", n_boot=300, seed=0)
    assert set(frame.columns) == set(stats.COMPARE_COLUMNS)
    assert len(frame) == 2 * 3  # two models x (auroc, accuracy, mcc)
    tests = dict(zip(frame["metric"], frame["example_test"], strict=False))
    assert tests == {"auroc": "delong", "accuracy": "mcnemar", "mcc": "bootstrap"}
    weak = frame[(frame["model"] == "weak") & (frame["metric"] == "auroc")].iloc[0]
    twin = frame[(frame["model"] == "twin") & (frame["metric"] == "auroc")].iloc[0]
    assert weak["significant"] and weak["diff"] < 0 and weak["retention"] < 0.7
    assert weak["retention_lo"] <= weak["retention"] <= weak["retention_hi"]
    assert not twin["significant"]
    assert twin["retention"] == pytest.approx(1.0, abs=0.01)
    assert weak["const_retention"] == pytest.approx(0.5 / weak["ref_mean"])  # constant AUROC 0.5
    raw, adj = frame["example_p"].to_numpy(), frame["example_p_adj"].to_numpy()
    assert np.all(adj >= raw - 1e-12)


def test_compare_retention_for_mse_is_reference_over_model():
    rng = np.random.default_rng(0)
    runs = []
    for seed in (0, 1):
        y = rng.normal(size=80)
        runs += [
            _run("ref", seed, y, y + rng.normal(0, 0.5, 80), "regression"),
            _run("m", seed, y, y + rng.normal(0, 1.0, 80), "regression"),
        ]
    frame = stats.compare(runs, "ref", n_boot=200)
    mse = frame[frame["metric"] == "mse"].iloc[0]
    assert mse["retention"] == pytest.approx(mse["ref_mean"] / mse["model_mean"])
    assert mse["retention"] < 1
    assert frame[frame["metric"] == "pearson"].iloc[0]["const_retention"] == 0.0


def test_compare_without_the_reference_is_a_user_error():
    with pytest.raises(UserError, match="reference model 'nope'"):
        stats.compare(_binary_study(seeds=(0,)), "nope")


def test_summary_table_means_and_intervals():
    results = _binary_study()
    frame = stats.summary_table(results)
    row = frame[(frame["model"] == "weak") & (frame["metric"] == "auroc")].iloc[0]
    values = [r.metrics["auroc"] for r in results if r.model == "weak"]
    assert (row["mean"], row["ci_lo"], row["ci_hi"]) == pytest.approx(stats.mean_ci(values))
    assert row["n_seeds"] == 3 and row["primary"]
    assert row["baseline_mean"] == pytest.approx(0.5)
    primary = frame[frame["model"] == "ref"]["metric"].tolist()[:3]
    assert primary == ["auroc", "accuracy", "mcc"]


def test_retention_is_blank_when_the_reference_is_no_better_than_constant():
    rng = np.random.default_rng(5)
    runs = []
    for seed in (0, 1, 2):
        y = rng.normal(size=60)
        runs += [
            _run("ref", seed, y, rng.normal(size=60), "regression"),  # pure noise
            _run("m", seed, y, y + rng.normal(0, 0.5, 60), "regression"),
        ]
    frame = stats.compare(runs, "ref", n_boot=400).set_index("metric")
    assert np.isnan(frame.loc["mse", "retention"]) and np.isnan(frame.loc["r2", "retention"])
    assert frame.loc["mse", "significant"]  # the tests themselves still run
