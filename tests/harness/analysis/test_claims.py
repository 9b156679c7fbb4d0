"""The seed claims table: a row per claim, measured from runs, with a defensible verdict."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.claims import (
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    Measure,
    any_testable,
    claims_table,
    verdict,
)
from harness.core.dataset import SplitView
from harness.core.results import DatasetRecord, RunResult
from tests.harness.fakes import fake_study

EXPECTED = {
    "retention_5_pearson",
    "retention_5_mse",
    "retention_10_pearson",
    "retention_10_mse",
    "retention_20_pearson",
    "retention_20_mse",
    "param_efficiency",
    "savings_5",
    "savings_10",
    "savings_20",
    "phase1_mse",
    "phase1_corr",
    "phase1_learns",
    "teacher_corr",
    "student_learns",
    "attngen_gain",
    "attngen_tradeoff",
    "ablation_faster",
    "ablation_chance",
    "ablation_ten",
}
LENGTH = 200


def _run(
    dataset,
    label,
    name,
    seed,
    task="binary",
    metrics=None,
    params=None,
    extra=None,
    ablation=None,
    baseline=None,
):
    y = np.array([0, 1, 0, 1])
    return RunResult(
        dataset=dataset,
        model=label,
        model_name=name,
        seed=seed,
        task=task,
        metrics=metrics or {},
        baseline_metrics=baseline or {"accuracy": 0.5},
        y_true=y,
        y_score=y * 0.8 + 0.1,
        ids=np.array(["a", "b", "c", "d"]),
        params=params or {},
        extra=extra or {},
        ablation=ablation or {},
    )


def _record(dataset, seed):
    view = SplitView(
        np.zeros((4, LENGTH), np.uint8), np.array([0, 1, 0, 1]), np.array(["a", "b", "c", "d"])
    )
    return DatasetRecord(dataset, seed, "binary", view, {"name": dataset}, LENGTH)


def _rows(table):
    return table.set_index("claim_id")


def test_a_row_for_every_claim_even_in_an_empty_study():
    table = claims_table([], [])
    assert set(table["claim_id"]) == EXPECTED
    assert (table["verdict"] == NOT_TESTABLE).all()
    assert table["why"].str.len().min() > 10  # each says why
    assert not any_testable(table)
    assert table["source"].str.contains(r"\.md").all()


def test_sparse_attention_claims_from_runs():
    results, records = fake_study(seeds=(0, 1), promoters=False)
    rows = _rows(claims_table(results, records, n_boot=200))
    eff = rows.loc["param_efficiency"]
    assert eff["measured"] == pytest.approx(4961 / 2346) and eff["verdict"] == SUPPORTED
    savings = rows.loc["savings_10"]  # the fake MACs scale with parameters: 53% saved, not 90%
    assert savings["measured"] == pytest.approx(1 - 2346 / 4961)
    assert savings["verdict"] == NOT_SUPPORTED
    ret = rows.loc["retention_10_pearson"]
    sparse = np.mean([r.metrics["pearson"] for r in results if r.model == "sparse10"])
    ref = np.mean([r.metrics["pearson"] for r in results if r.model == "attention"])
    assert ret["measured"] == pytest.approx(sparse / ref)
    assert ret["ci_lo"] <= ret["measured"] <= ret["ci_hi"]
    assert ret["constant"] == 0.0  # the constant predictor's Pearson retention
    assert "synthetic" in ret["basis"] and "Pearson" in ret["basis"]
    assert rows.loc["retention_10_mse"]["constant"] > 0  # a constant keeps some "MSE retention"
    assert rows.loc["retention_5_pearson"]["verdict"] == NOT_TESTABLE  # no 5% model in the study
    assert rows.loc["phase1_learns"]["verdict"] == SUPPORTED
    assert rows.loc["phase1_corr"]["verdict"] == NOT_SUPPORTED  # 0.072 is far below these fits


def test_retention_is_not_testable_when_the_reference_learned_nothing():
    results, records = fake_study(seeds=(0, 1), promoters=False)
    rng = np.random.default_rng(0)
    for r in results:
        if r.model == "attention":
            r.y_score = rng.normal(0.5, 0.1, len(r.y_true))
            r.metrics["pearson"] = float(np.corrcoef(r.y_true, r.y_score)[0, 1]) * 0 - 0.01
    row = _rows(claims_table(results, records, n_boot=100)).loc["retention_10_pearson"]
    assert row["verdict"] == NOT_TESTABLE
    assert "does not beat the constant predictor" in row["why"]


def _attngen_study(gains_pp, ablation=True):
    results, records = [], []
    for seed, gain in zip((0, 1, 2), gains_pp, strict=True):
        records.append(_record("demo_human_or_worm", seed))
        base = 0.9583 + 0.001 * seed
        accs = {0.0: base, 0.1: base + gain / 100, 0.2: base + gain / 200, 0.5: base - 0.004}
        for ratio, acc in accs.items():
            curve = None
            if ratio == 0.1 and ablation:
                curve = {
                    "n_masked": np.array([0, 10, 100, 200]),
                    "high_to_low": np.array([acc, 0.80 + 0.01 * seed, 0.52, 0.5]),
                    "random": np.array([acc, acc - 0.01, 0.85, 0.5]),
                    "low_to_high": np.array([acc, acc, 0.9, 0.5]),
                }
            results.append(
                _run(
                    "demo_human_or_worm",
                    f"attngen{ratio:g}",
                    "attngen",
                    seed,
                    metrics={"accuracy": acc},
                    params={"mask_ratio": ratio},
                    ablation=curve,
                )
            )
    return results, records


def test_attngen_claims_supported():
    results, records = _attngen_study([1.2, 1.0, 1.1])
    rows = _rows(claims_table(results, records))
    gain = rows.loc["attngen_gain"]
    assert gain["measured"] == pytest.approx(1.1) and gain["verdict"] == SUPPORTED
    assert "demo_human_or_worm" in gain["basis"]
    trade = rows.loc["attngen_tradeoff"]
    assert trade["measured"] == pytest.approx(0.1) and trade["verdict"] == SUPPORTED
    assert rows.loc["ablation_faster"]["verdict"] == SUPPORTED
    chance = rows.loc["ablation_chance"]
    assert chance["measured"] == pytest.approx(0.02) and chance["verdict"] == SUPPORTED
    ten = rows.loc["ablation_ten"]
    drops = [
        100 * (0.9583 + 0.001 * s + g / 100 - (0.80 + 0.01 * s))
        for s, g in zip((0, 1, 2), (1.2, 1.0, 1.1), strict=True)
    ]
    assert ten["measured"] == pytest.approx(np.mean(drops))  # 17.0, 15.9, 15.1 pp
    assert ten["verdict"] == SUPPORTED  # the 95% CI over 3 seeds contains 14.5
    assert any_testable(claims_table(results, records))


def test_attngen_gain_not_supported_without_a_significant_gain():
    results, records = _attngen_study([0.2, -0.1, 0.3], ablation=False)
    rows = _rows(claims_table(results, records))
    assert rows.loc["attngen_gain"]["verdict"] == NOT_SUPPORTED
    assert "no significant gain" in rows.loc["attngen_gain"]["why"]
    assert rows.loc["ablation_faster"]["verdict"] == NOT_TESTABLE


@pytest.mark.parametrize(
    ("teacher", "overlap", "expected"),
    [
        ((0.46, 0.47, 0.45), (0.35, 0.4, 0.38), SUPPORTED),
        ((0.20, 0.22, 0.21), (0.10, 0.11, 0.09), NOT_SUPPORTED),
    ],
)
def test_teacher_student_claims(teacher, overlap, expected):
    results = [
        _run(
            "synthetic",
            "ts",
            "teacher_student",
            seed,
            "regression",
            metrics={"pearson": 0.3},
            baseline={"pearson": 0.0},
            extra={
                "teacher_pearson": t,
                "selection_precision_at_k": o,
                "selection_jaccard": o / 2,
                "selection_chance": 0.1,
            },
        )
        for seed, t, o in zip((0, 1, 2), teacher, overlap, strict=True)
    ]
    rows = _rows(claims_table(results, []))
    assert rows.loc["teacher_corr"]["verdict"] == expected
    assert rows.loc["student_learns"]["verdict"] == expected
    assert rows.loc["student_learns"]["constant"] == pytest.approx(0.1)  # chance beside it


def test_verdict_rules():
    assert verdict("approx", 0.0836, Measure(0.08, 0.07, 0.09))[0] == SUPPORTED
    assert verdict("approx", 0.0836, Measure(0.05, 0.04, 0.06))[0] == NOT_SUPPORTED
    assert verdict("at_least", 0.961, Measure(0.97, 0.9, 1.0, constant=0.0))[0] == SUPPORTED
    # beats the claim on average but is indistinguishable from the constant predictor
    assert verdict("at_least", 0.961, Measure(0.97, 0.9, 1.0, constant=0.95))[0] == NOT_SUPPORTED
    assert verdict("at_least", 2.11, Measure(2.106), tol=0.005)[0] == SUPPORTED
    assert verdict("gain", 0.9, Measure(1.0, -0.2, 2.2))[0] == NOT_SUPPORTED
    assert verdict("above", 0.0, Measure(0.1, 0.02, 0.2))[0] == SUPPORTED
    assert verdict("in_range", (0.1, 0.2), Measure(0.5))[0] == NOT_SUPPORTED
    assert verdict("at_least", 1.0, Measure(float("nan")))[0] == NOT_TESTABLE
    # two seeds of a model that learned nothing: the CI "contains" any small figure
    assert verdict("approx", 0.072, Measure(0.001, -1.8, 1.8))[0] == NOT_TESTABLE


def test_teacher_correlation_falls_back_to_the_attention_model():
    results = [
        _run(
            "synthetic",
            "attention",
            "attention",
            seed,
            "regression",
            metrics={"pearson": p},
            baseline={"pearson": 0.0},
        )
        for seed, p in zip((0, 1, 2), (0.50, 0.52, 0.48), strict=True)
    ] + [
        _run(
            "synthetic",
            "ts",
            "teacher_student",
            seed,
            "regression",
            metrics={"pearson": 0.3},
            extra={"selection_chance": 0.1},
        )
        for seed in (0, 1, 2)
    ]
    row = _rows(claims_table(results, [])).loc["teacher_corr"]
    assert row["measured"] == pytest.approx(0.5)
    assert "proxy" in row["basis"] and row["verdict"] == SUPPORTED


def test_ablation_claims_on_a_regression_study():
    curve = {
        "n_masked": np.array([0, 50, 100, 200]),
        "high_to_low": np.array([0.6, 0.1, 0.02, 0]),
        "random": np.array([0.6, 0.45, 0.3, 0]),
        "low_to_high": np.array([0.6, 0.6, 0.5, 0]),
    }
    results = [
        _run(
            "synthetic",
            "attngen10",
            "attngen",
            seed,
            "regression",
            metrics={"pearson": 0.6},
            params={"mask_ratio": 0.1},
            ablation=curve,
            baseline={"pearson": 0.0},
        )
        for seed in (0, 1)
    ]
    rows = _rows(claims_table(results, []))
    assert rows.loc["ablation_faster"]["verdict"] == SUPPORTED
    assert "pearson" in rows.loc["ablation_faster"]["basis"]
    assert rows.loc["ablation_chance"]["measured"] == pytest.approx(0.02)
    assert rows.loc["ablation_ten"]["verdict"] == NOT_TESTABLE  # a claim in accuracy points
    assert rows.loc["attngen_gain"]["verdict"] == NOT_TESTABLE


def test_near_chance_is_not_testable_for_a_model_already_at_chance():
    curve = {
        "n_masked": np.array([0, 100, 200]),
        "high_to_low": np.array([0.52, 0.5, 0.5]),
        "random": np.array([0.52, 0.51, 0.5]),
        "low_to_high": np.array([0.52, 0.52, 0.5]),
    }
    results = [
        _run(
            "demo_human_or_worm",
            "attngen10",
            "attngen",
            seed,
            metrics={"accuracy": 0.52},
            params={"mask_ratio": 0.1},
            ablation=curve,
        )
        for seed in (0, 1)
    ]
    row = _rows(claims_table(results, [_record("demo_human_or_worm", 0)])).loc["ablation_chance"]
    assert row["verdict"] == NOT_TESTABLE and "before any masking" in row["why"]
