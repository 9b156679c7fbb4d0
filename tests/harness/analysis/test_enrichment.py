"""Enrichment tables read the rows each run recorded, and the TSS profile only positives."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.enrichment import EnrichmentSettings, enrichment
from harness.analysis.index import StudyIndex
from harness.core.dataset import SplitView
from harness.core.errors import UserError
from harness.core.results import DatasetRecord, RunResult
from harness.core.subsets import analysis_subset

N, L, TSS = 400, 80, 60


def _study():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [300, 100])  # sorted by class, mostly negatives first
    tokens = rng.integers(0, 4, (N, L)).astype(np.uint8)
    view = SplitView(
        tokens, labels, np.array([f"s{i}" for i in range(N)]), {"tss_index": np.full(N, TSS)}
    )
    rows = analysis_subset(labels, "binary", 100, seed=0)
    results, records = [], []
    for seed in (0, 1):
        records.append(DatasetRecord("epd", seed, "binary", view, {}, L))
        imp = rng.random((len(rows), L))
        positive = labels[rows] == 1
        imp[np.ix_(positive, np.arange(TSS - 31, TSS - 23))] += 2.0  # the TATA window
        imp[np.ix_(~positive, np.arange(TSS + 5, TSS + 10))] += 5.0  # negatives: elsewhere
        results.append(
            RunResult(
                dataset="epd",
                model="m",
                model_name="m",
                seed=seed,
                task="binary",
                metrics={},
                baseline_metrics={},
                y_true=labels,
                y_score=labels.astype(float),
                ids=view.ids,
                importance=imp,
                importance_index=rows,
            )
        )
    return results, records, rows


def test_profile_of_positives_and_tests_on_the_recorded_rows():
    results, records, _ = _study()
    out = enrichment(StudyIndex.of(results, records), EnrichmentSettings(jaspar=False, n_perm=200))
    profile = out.tss_profile
    assert (profile["n_sequences"] == 2 * 50).all()  # 50 positives of the balanced subset, 2 seeds
    peak = profile.loc[profile["mean_relative_importance"].idxmax(), "offset"]
    assert -31 <= peak <= -24  # the negatives' bigger peak at +5..+9 is left out
    tata = out.promoter[out.promoter["feature"].str.startswith("TATA")].iloc[0]
    assert tata["seeds"] == 2 and tata["positions"] == 50 * 8
    assert tata["p_composition"] < 0.01 and tata["p_spatial"] < 0.01


def test_a_run_without_its_rows_is_refused_not_misaligned():
    results, records, _ = _study()
    results[0].importance_index = None  # importance of 100 rows, which ones unknown
    with pytest.raises(UserError, match="importance_index"):
        enrichment(StudyIndex.of(results, records), EnrichmentSettings(jaspar=False, n_perm=10))
