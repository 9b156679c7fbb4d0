"""The Settings section and the failed runs: what the run was told, what loading did (caps,
split sizes, leakage with near-duplicates) and which runs FAILED, from the Analysis alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.analysis.analyze import analyze
from harness.analysis.bundle import Analysis
from harness.analysis.overview import failures_table, settings_table
from harness.config.study import StudyConfig
from harness.report.page import render_markdown
from harness.report.render import build_sections
from tests.harness.fakes import fake_study

STUDY = StudyConfig.model_validate(
    {
        "name": "toy",
        "seeds": [0],
        "datasets": [
            {"adapter": "synthetic_motifs", "label": "synthetic", "params": {"n": 120}},
            {
                "adapter": "table",
                "label": "promoters",
                "params": {"path": "p.csv", "test_fraction": 0.2, "max_train": 3000},
            },
        ],
        "models": [
            {"name": "attention"},
            {
                "name": "sparse_attention",
                "label": "sparse10",
                "params": {"sparsity": 0.1},
                "train": {"lr": 0.01},
            },
        ],
        "train": {"epochs": 5},
    }
)
LEAKAGE = {
    "train_val_exact": 1,
    "train_val_revcomp": 0,
    "train_test_exact": 2,
    "train_test_revcomp": 0,
    "val_test_exact": 0,
    "val_test_revcomp": 0,
    "train_val_near": 40,
    "train_test_near": 38,
    "val_test_near": 12,
}
PROMOTER_META = {
    "source": "table",
    "adapter": "table",
    "max_train": 3000,
    "max_val": None,
    "n_train_before_max_train": 35518,
    "counts": {"train": 3000, "val": 1000, "test": 11839},
    "leakage": LEAKAGE,
    "leakage_dropped": False,
    "split_source": "test_fraction",
}
FAILED = [{"dataset": "promoters", "model": "sparse10", "seed": 0, "reason": "RuntimeError: boom"}]


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    results, records = fake_study(seeds=(0,))
    records = [
        replace(r, meta={**r.meta, **PROMOTER_META}) if r.dataset == "promoters" else r
        for r in records
    ]
    return analyze(
        results,
        records,
        reference="attention",
        baselines=[],
        n_boot=20,
        study="toy",
        study_config=STUDY,
        failures=FAILED,
    )


def _settings(a: Analysis, scope: str, name: str) -> dict[str, str]:
    rows = a.settings[(a.settings["scope"] == scope) & (a.settings["name"] == name)]
    return dict(zip(rows["setting"], rows["value"], strict=True))


def test_settings_table_lists_params_caps_loading_and_overrides(analysis):
    promoters = _settings(analysis, "dataset", "promoters")
    assert promoters["adapter"] == "table" and promoters["path"] == "p.csv"
    assert promoters["max_train"] == "3000" and promoters["max_val"] == "none"
    assert promoters["split sizes (train / val / test)"] == "3000 / 1000 / 11839"
    assert promoters["n_train_before_max_train"] == "35518"
    assert promoters["split_source"] == "test_fraction"
    assert _settings(analysis, "dataset", "synthetic")["n"] == "120"
    assert _settings(analysis, "train", "study")["epochs"] == "5"
    sparse = _settings(analysis, "model", "sparse10")
    assert sparse == {
        "registered name": "sparse_attention",
        "train.lr": "0.01",
        "params.sparsity": "0.1",
    }
    assert _settings(analysis, "model", "attention") == {"registered name": "attention"}


def test_settings_without_a_study_come_from_the_records():
    _, records = fake_study(seeds=(0,), promoters=False)
    table = settings_table(None, records)
    assert set(table["scope"]) == {"dataset"} and set(table["name"]) == {"synthetic"}
    assert settings_table(None, []).empty


def test_failures_table():
    table = failures_table(FAILED)
    assert table.to_dict("records") == FAILED
    assert failures_table([]).columns.tolist() == ["dataset", "model", "seed", "reason"]


def test_settings_and_failures_read_back_exactly(analysis, tmp_path):
    loaded = Analysis.load(analysis.save(tmp_path))
    for name in ("settings", "failures", "leakage"):
        got, want = getattr(loaded, name), getattr(analysis, name)
        assert got.to_dict("records") == want.to_dict("records"), name


def test_report_shows_settings_leakage_and_failures(analysis):
    sections = {s.title: s for s in build_sections(analysis)}
    md = render_markdown("toy", list(sections.values()))
    settings = md.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    assert "**Dataset promoters**" in settings and "| max_train | 3000 |" in settings
    assert "| sparse10 | train.lr | 0.01 |" in settings
    assert "Jaccard >= 0.7" in settings and "DeePromoter" in settings
    assert "train_test_near" in settings and "| 38 |" in settings
    overview = md.split("\n## Overview\n", 1)[1].split("\n## ", 1)[0]
    assert "**1 run(s) FAILED**" in overview
    assert "| promoters | sparse10 | 0 | RuntimeError: boom |" in overview


def test_empty_analysis_settings_say_no_data():
    empty = analyze([], [], reference="attention", baselines=[])
    section = {s.title: s for s in build_sections(empty)}["Settings"]
    assert any(getattr(b, "no_data", False) for b in section.blocks)
