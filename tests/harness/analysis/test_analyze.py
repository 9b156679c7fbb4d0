"""The analysis stage: every table computed once with the stats functions, roles from the caller,
and an Analysis that reads back from its folder exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from harness.analysis.analyze import analyze
from harness.analysis.bundle import MANIFEST, SCHEMA_VERSION, Analysis
from harness.analysis.comparisons import COMPARE_COLUMNS, compare, summary_table
from harness.analysis.frames import frame_from_csv, frame_to_csv
from harness.analysis.headline import CONSTANT_ROW, baselines_table, results_table
from harness.analysis.index import StudyIndex
from harness.analysis.intervals import mean_ci
from harness.analysis.overview import noise_ceilings
from harness.analysis.planted import planted_enrichment
from harness.core.errors import UserError
from tests.harness.fakes import N_BOOT, fake_analysis, fake_study


@pytest.fixture(scope="module")
def study():
    return fake_study()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    fake_analysis().save(folder)
    return folder


def _same_values(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns and cell values (NaN == NaN, NA == NA), whatever the pandas dtype names."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        for x, y in zip(a[col].tolist(), b[col].tolist(), strict=True):
            if isinstance(x, float) and math.isnan(x):
                assert isinstance(y, float) and math.isnan(y), col
            elif x is pd.NA:
                assert y is pd.NA, col
            else:
                assert x == y and type(x) is type(y), (col, x, y)


# -------------------------------------------------------------- the same numbers as the stats
def test_summary_and_comparisons_are_the_stats_functions_output(study):
    results, _ = study
    a = fake_analysis()
    pd.testing.assert_frame_equal(a.summary, summary_table(results))
    expected = compare(results, "attention", n_boot=N_BOOT, seed=0)
    pd.testing.assert_frame_equal(a.comparisons, expected)


def test_every_concern_is_filled_for_the_fake_study():
    a = fake_analysis()
    for name in ("planted", "motif_recovery", "promoter", "tss_profile", "jaspar", "ablation"):
        assert not getattr(a, name).empty, name
    assert {m.dataset for m in a.importance_maps} == {"synthetic", "promoters"}
    assert set(a.curve_keys) == {"synthetic", "promoters"}
    assert a.jaspar_info["promoters"]["n_motifs"] > 0
    assert a.noise_ceilings["synthetic"] and a.noise_ceilings["promoters"] == {}
    assert a.notes == {}
    assert sum(a.claims_verdicts.values()) == len(a.claims)


def test_planted_row_is_the_mean_ci_of_each_seeds_enrichment(study):
    results, records = study
    per_seed = []
    for r in results:
        if r.dataset == "synthetic" and r.model == "attention":
            rec = next(d for d in records if d.dataset == "synthetic" and d.seed == r.seed)
            mask = rec.test.annotations["motif_mask"][: len(r.importance)]
            per_seed.append(planted_enrichment(r.importance, mask))
    expected = mean_ci([e["precision"] for e in per_seed])
    row = fake_analysis().planted.query("dataset == 'synthetic' and model == 'attention'").iloc[0]
    assert (row["precision"], row["precision_ci_lo"], row["precision_ci_hi"]) == expected
    assert row["seeds"] == len(per_seed) == 2


# ------------------------------------------------------------------------------------ roles
def test_baselines_are_a_role_given_by_the_caller(study):
    results, records = study
    ix = StudyIndex.of(results, records)
    summary = summary_table(results)
    ceilings = noise_ceilings(ix)
    with_role = baselines_table(ix, summary, ceilings, ["kmer"])
    assert {"kmer", "beats kmer"} <= set(with_role.columns)
    own = with_role[with_role["model"] == "kmer"]["beats kmer"].iloc[0]
    assert own is pd.NA
    other = with_role[(with_role["dataset"] == "promoters") & (with_role["model"] == "attention")]
    assert other["kmer"].iloc[0] == pytest.approx(
        summary.query("dataset == 'promoters' and model == 'kmer' and metric == 'auroc'")[
            "mean"
        ].iloc[0]
    )
    without = baselines_table(ix, summary, ceilings, [])
    assert "beats kmer" not in without.columns
    kinds = results_table(ix, summary, ceilings, "attention", ["kmer"])
    by_model = dict(zip(kinds["model"], kinds["kind"], strict=False))
    assert by_model["kmer"] == "baseline" and by_model["attention"] == "reference"
    assert by_model["sparse10"] == "model" and by_model[CONSTANT_ROW] == "baseline"


def test_constant_predictor_row_is_the_mean_over_models(study):
    results, _ = study
    summary = summary_table(results)
    a = fake_analysis()
    row = a.results.query(f"dataset == 'synthetic' and model == '{CONSTANT_ROW}'")
    mse = row[row["metric"] == "mse"]["mean"].iloc[0]
    expected = summary.query("dataset == 'synthetic' and metric == 'mse'")["baseline_mean"].mean()
    assert mse == expected


# -------------------------------------------------------------------------- notes, no data
def test_a_concern_that_cannot_run_leaves_a_note(study):
    results, records = study
    a = analyze(results, records, reference="nope", baselines=[], n_boot=10)
    assert "nope" in a.notes["comparisons"]
    assert list(a.comparisons.columns) == COMPARE_COLUMNS and a.comparisons.empty
    assert "claims file" in a.notes["claims"] and a.claims.empty


def test_an_empty_study_saves_and_loads(tmp_path):
    a = analyze([], [], reference="attention", baselines=[])
    loaded = Analysis.load(a.save(tmp_path))
    assert loaded.meta == a.meta and loaded.notes == a.notes
    assert loaded.summary.empty and loaded.importance_maps == []


# ---------------------------------------------------------------------------------- files
def test_analysis_reads_back_exactly(saved):
    a, b = fake_analysis(), Analysis.load(saved)
    assert b.meta == a.meta
    for name in Analysis.table_names():
        _same_values(getattr(a, name), getattr(b, name))
    for name in Analysis.plain_names():
        assert json.dumps(getattr(b, name)) == json.dumps(getattr(a, name)), name
    assert len(b.importance_maps) == len(a.importance_maps)
    for x, y in zip(a.importance_maps, b.importance_maps, strict=True):
        assert x.describe() == y.describe()
        np.testing.assert_array_equal(x.heat, y.heat)
        assert y.heat.dtype == np.float64


def test_manifest_names_schema_version_and_every_table(saved):
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert set(manifest["tables"]) == set(Analysis.table_names())
    assert all((saved / f).is_file() for f in manifest["files"])
    assert (saved / "summary.csv").is_file() and (saved / "comparisons.csv").is_file()


def test_other_schema_versions_and_empty_folders_are_user_errors(saved, tmp_path):
    with pytest.raises(UserError, match="no analysis"):
        Analysis.load(tmp_path)
    manifest = json.loads((saved / MANIFEST).read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="schema_version"):
        Analysis.load(tmp_path)


def test_frames_round_trip_every_kind():
    frame = pd.DataFrame(
        {
            "float": [0.1 + 0.2, np.nan, np.inf, -1e-300],
            "int": [1, 2, 3, 4],
            "str": ["x", "", "a,b", 'q"u\nv'],
            "bool": [True, False, True, True],
            "nullable": pd.array([True, None, False, True], dtype="boolean"),
            "mixed": [[1, 2], None, "s", 0.5],
        }
    )
    text, spec = frame_to_csv(frame)
    assert spec["kinds"] == {
        "float": "float",
        "int": "int",
        "str": "str",
        "bool": "bool",
        "nullable": "boolean",
        "mixed": "json",
    }
    _same_values(frame, frame_from_csv(text, spec))
