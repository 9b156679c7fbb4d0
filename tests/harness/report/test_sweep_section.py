"""The sweep section: the primary test metric against a param the study varies across datasets of
one adapter, drawn and tabulated when the datasets form a sweep, absent otherwise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from harness.analysis.analyze import analyze
from harness.analysis.bundle import Analysis, StudyMeta
from harness.analysis.headline import CEILING_ROW, CONSTANT_ROW, RESULT_COLUMNS
from harness.config.study import StudyConfig
from harness.report.page import render_markdown
from harness.report.render import SECTIONS, build_sections, write_report
from harness.report.sweep_section import SWEEP_TITLE
from tests.harness.fakes import fake_analysis, fake_study

LENGTHS = {"lr1k": 1024, "lr4k": 4096}
# (mean, ci_lo, ci_hi) per model and dataset
SCORES = {
    "near": {"lr1k": (0.9, 0.85, 0.95), "lr4k": (0.8, 0.7, 0.88)},
    "far": {"lr1k": (0.7, 0.6, 0.78), "lr4k": (0.72, 0.65, 0.8)},
}
CEILINGS = {"lr1k": 0.95, "lr4k": 0.94}


def _results(seeds: int) -> pd.DataFrame:
    """Results rows of two models on two lengths, with the constant predictor and the ceiling."""
    rows = []
    for ds in LENGTHS:
        for model, scores in SCORES.items():
            mean, lo, hi = scores[ds] if seeds > 1 else (scores[ds][0], np.nan, np.nan)
            rows.append((ds, "binary", model, "model", "auroc", mean, lo, hi, float(seeds)))
        rows.append((ds, "binary", CONSTANT_ROW, "baseline", "auroc", 0.5, np.nan, np.nan, np.nan))
        rows.append((ds, "binary", CEILING_ROW, "ceiling", "auroc", CEILINGS[ds], *[np.nan] * 3))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _analysis(specs: dict[str, dict], seeds: int = 3, tasks: dict | None = None) -> Analysis:
    tasks = tasks or dict.fromkeys(LENGTHS, "binary")
    meta = StudyMeta(
        study="lr",
        reference="near",
        seeds=tuple(range(seeds)),
        datasets=tuple(LENGTHS),
        tasks=tasks,
        models=dict.fromkeys(LENGTHS, tuple(SCORES)),
        primary={ds: "auroc" if t == "binary" else "pearson" for ds, t in tasks.items()},
        dataset_specs=specs,
    )
    return Analysis(meta=meta, results=_results(seeds))


def _specs(**extra: dict) -> dict[str, dict]:
    return {
        ds: {"adapter": "long_range_motifs", "params": {"n": 4000, "length": length, **extra}}
        for ds, length in LENGTHS.items()
    }


def _sweep_markdown(analysis: Analysis) -> str:
    md = render_markdown("lr", build_sections(analysis))
    return md.split(f"\n## {SWEEP_TITLE}\n", 1)[1].split("\n## ", 1)[0]


def test_a_length_sweep_gets_its_section_after_results_with_figure_and_table(tmp_path):
    analysis = _analysis(_specs())
    titles = [s.title for s in build_sections(analysis)]
    assert titles[titles.index("Results") + 1] == SWEEP_TITLE
    paths = write_report(analysis, tmp_path)
    assert (paths["figures"] / "sweep_length_lr1k.png").read_bytes().startswith(b"\x89PNG")
    assert f"<h2>{SWEEP_TITLE}</h2>" in paths["html"].read_text()
    md = _sweep_markdown(analysis)
    assert "](figures/sweep_length_lr1k.png)" in md
    assert "| model | length 1024 | length 4096 | seeds |" in md
    assert "| near | 0.9 [0.85, 0.95] | 0.8 [0.7, 0.88] | 3 |" in md
    assert f"| {CONSTANT_ROW} | 0.5 | 0.5 |  |" in md
    assert f"| {CEILING_ROW} | 0.95 | 0.94 |  |" in md
    assert "other params: n=4000" in md and "no interval" not in md


def test_with_one_seed_the_cells_hold_the_mean_and_say_there_is_no_interval():
    md = _sweep_markdown(_analysis(_specs(), seeds=1))
    assert "| near | 0.9 | 0.8 | 1 |" in md
    assert "1 seed: no interval" in md


def test_a_model_missing_at_one_value_shows_a_dash():
    analysis = _analysis(_specs())
    results = analysis.results
    analysis.results = results[~((results["model"] == "far") & (results["dataset"] == "lr4k"))]
    assert "| far | 0.7 [0.6, 0.78] | — | 3 / — |" in _sweep_markdown(analysis)


@pytest.mark.parametrize(
    "specs",
    [
        {},  # no study config: nothing to group
        {  # n varies with the length: no sweep
            ds: {"adapter": "long_range_motifs", "params": {"n": length, "length": length}}
            for ds, length in LENGTHS.items()
        },
        {  # two adapters
            ds: {"adapter": f"adapter{i}", "params": {"length": length}}
            for i, (ds, length) in enumerate(LENGTHS.items())
        },
    ],
)
def test_no_section_when_the_datasets_form_no_sweep(specs):
    titles = [s.title for s in build_sections(_analysis(specs))]
    assert SWEEP_TITLE not in titles and titles == list(SECTIONS)


def test_no_section_when_the_swept_datasets_differ_in_primary_metric():
    analysis = _analysis(_specs(), tasks={"lr1k": "binary", "lr4k": "regression"})
    assert SWEEP_TITLE not in [s.title for s in build_sections(analysis)]


def test_the_shared_fake_study_has_no_sweep():
    assert SWEEP_TITLE not in [s.title for s in build_sections(fake_analysis())]


def test_analyze_carries_the_study_params_to_a_rebuilt_report(tmp_path):
    """A real (fake-model) analysis of one dataset at two lengths, saved and loaded."""
    results, records = fake_study(seeds=(0, 1), promoters=False, n_synthetic=60)
    results = [replace(r, dataset=ds) for r in results for ds in ("s40", "s80")]
    records = [replace(r, dataset=ds) for r in records for ds in ("s40", "s80")]
    study = StudyConfig.model_validate(
        {
            "name": "toy",
            "datasets": [
                {"adapter": "synthetic_motifs", "label": f"s{n}", "params": {"length": n}}
                for n in (40, 80)
            ],
            "models": [{"name": "attention"}],
        }
    )
    analysis = analyze(
        results, records, reference="attention", baselines=[], n_boot=20, study_config=study
    )
    loaded = Analysis.load(analysis.save(tmp_path / "analysis"))
    assert loaded.meta.dataset_specs == analysis.meta.dataset_specs
    md = _sweep_markdown(loaded)
    assert "| model | length 40 | length 80 | seeds |" in md
    assert "test pearson" in md and "sparse10" in md
