"""Study-level tables: summary_table, compare against the reference, retention."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.bootstrap import example_resamples
from harness.analysis.comparisons import COMPARE_COLUMNS, compare, summary_table
from harness.analysis.intervals import mean_ci
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


def test_compare_detects_a_real_difference_and_not_a_twin():
    results = _binary_study()
    frame = compare(results, "ref", n_boot=300, seed=0)
    assert set(frame.columns) == set(COMPARE_COLUMNS)
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
    frame = compare(runs, "ref", n_boot=200)
    mse = frame[frame["metric"] == "mse"].iloc[0]
    assert mse["retention"] == pytest.approx(mse["ref_mean"] / mse["model_mean"])
    assert mse["retention"] < 1
    assert frame[frame["metric"] == "pearson"].iloc[0]["const_retention"] == 0.0


def test_compare_without_the_reference_is_a_user_error():
    with pytest.raises(UserError, match="reference model 'nope'"):
        compare(_binary_study(seeds=(0,)), "nope")


def test_summary_table_means_and_intervals():
    results = _binary_study()
    frame = summary_table(results)
    row = frame[(frame["model"] == "weak") & (frame["metric"] == "auroc")].iloc[0]
    values = [r.metrics["auroc"] for r in results if r.model == "weak"]
    assert (row["mean"], row["ci_lo"], row["ci_hi"]) == pytest.approx(mean_ci(values, 0.95, (0, 1)))
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
    frame = compare(runs, "ref", n_boot=400).set_index("metric")
    assert np.isnan(frame.loc["mse", "retention"]) and np.isnan(frame.loc["r2", "retention"])
    assert frame.loc["mse", "significant"]  # the tests themselves still run


def test_seeds_sharing_a_test_set_share_each_resample():
    ids = np.array(["a", "b", "c", "d"])
    res = example_resamples([ids, ids[::-1]], 50, np.random.default_rng(0))
    assert np.array_equal(res.weights(ids), res.weights(ids[::-1])[:, ::-1])
    assert (res.weights(ids).sum(axis=1) == 4).all()
    with pytest.raises(ValueError, match="outside"):
        res.weights(np.array(["z"]))


def test_two_level_columns_stay_in_range_and_say_what_is_detectable():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 150)
    ids = np.array([f"e{i}" for i in range(150)])
    runs = []
    for seed in (0, 1, 2):
        for model, signal in (("ref", 3.0), ("m", 2.6)):
            score = 1 / (1 + np.exp(-(signal * (y - 0.5) + rng.normal(0, 0.6, 150))))
            run = _run(model, seed, y, score)
            run.ids = ids  # every seed scores the same test examples
            runs.append(run)
    frame = compare(runs, "ref", n_boot=300).set_index("metric")
    auroc = frame.loc["auroc"]
    assert auroc["ref_mean"] > 0.95
    assert -1 < auroc["boot_diff_lo"] < auroc["diff"] < auroc["boot_diff_hi"] < 1
    assert 0 < auroc["retention_lo"] < auroc["retention"] < auroc["retention_hi"]
    assert frame["mdd"].gt(0).all()
    assert (frame["mdd"] > 2 * frame["boot_diff_hi"].sub(frame["boot_diff_lo"]) / 4).all()
