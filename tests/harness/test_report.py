"""The report: both files exist, every section is there, the HTML stands alone."""

from __future__ import annotations

import re

import numpy as np
import pytest

from adapters.synthetic_motifs import SyntheticMotifsParams, load
from harness.ablation import ablation_curves
from harness.dataset import SplitView
from harness.metrics import compute_metrics
from harness.report import SECTIONS, fmt, write_report
from harness.results import DatasetRecord, RunResult

MODELS = (("attention", "attention", {}), ("sparse10", "sparse_attention", {"sparsity": 0.1}))


def _result(dataset, label, name, params, seed, task, view, score, importance, n_params):
    base = np.full(len(view.labels), float(np.mean(view.labels)))
    predict = (
        (lambda t: score)
        if task == "regression"
        else (lambda t: np.clip(score - 0.3 * (t[:, :5] == 5).mean(axis=1), 0, 1))
    )
    return RunResult(
        dataset=dataset,
        model=label,
        model_name=name,
        seed=seed,
        task=task,
        metrics=compute_metrics(task, view.labels, score),
        baseline_metrics=compute_metrics(task, view.labels, base),
        y_true=view.labels,
        y_score=score,
        ids=view.ids,
        importance=importance,
        ablation=ablation_curves(
            predict, view.tokens, view.labels, importance, task, steps=4, seed=seed
        ),
        curves={
            "train_loss": [0.3, 0.2, 0.15],
            f"val_{'pearson' if task == 'regression' else 'auroc'}": [0.2, 0.5, 0.6],
        },
        compute={
            "n_params": n_params,
            "macs_per_seq": 10.0 * n_params,
            "train_seconds": 2.0,
            "seconds_per_epoch": 0.7,
            "peak_rss_mb": 400.0,
        },
        params=dict(params),
    )


def fake_study(seeds=(0, 1), promoters: bool = True):
    """2 models x 2 seeds on synthetic planted motifs (+ a small promoter-like binary set)."""
    results, records = [], []
    for seed in seeds:
        ds = load(SyntheticMotifsParams(n=120, length=40, max_motifs=2, noise_sd=0.05), seed)
        test = ds.view("test")
        records.append(DatasetRecord("synthetic", seed, ds.task, test, ds.meta, ds.length))
        rng = np.random.default_rng(seed)
        clean = test.annotations["clean_label"]
        mask = test.annotations["motif_mask"]
        for (label, name, params), noise, n_params in zip(
            MODELS, (0.1, 0.15), (4961.0, 2346.0), strict=True
        ):
            score = clean + rng.normal(0, noise, len(clean))
            imp = (mask + rng.normal(0, 0.5, mask.shape)).astype(np.float32)
            results.append(
                _result(
                    "synthetic", label, name, params, seed, "regression", test, score, imp, n_params
                )
            )
        if promoters:
            n, length = 30, 60
            tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
            labels = rng.integers(0, 2, n)
            view = SplitView(
                tokens, labels, np.array([f"p{i}" for i in range(n)]), {"tss_index": np.full(n, 45)}
            )
            records.append(
                DatasetRecord("promoters", seed, "binary", view, {"source": "fake"}, length)
            )
            for label, name, params in (
                ("attention", "attention", {}),
                ("kmer", "kmer_logreg", {"k": 4}),
            ):
                score = np.clip(0.5 + (labels - 0.5) * 0.5 + rng.normal(0, 0.2, n), 0, 1)
                results.append(
                    _result(
                        "promoters",
                        label,
                        name,
                        params,
                        seed,
                        "binary",
                        view,
                        score,
                        rng.random((n, length)),
                        100.0,
                    )
                )
    return results, records


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    results, records = fake_study()
    paths = write_report(
        "toy", results, records, out, "attention", meta={"n_boot": 100, "claims": True}
    )
    return paths


def test_files_exist_and_every_section_is_present(written):
    html = written["html"].read_text()
    md = written["markdown"].read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
        assert f"\n## {title}\n" in md, title
    assert written["summary"].is_file() and written["comparisons"].is_file()
    assert written["claims"].is_file()


def test_html_is_self_contained_and_markdown_links_existing_pngs(written):
    html = written["html"].read_text()
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)
    assert "<link" not in html and "<script" not in html
    pngs = sorted(written["figures"].glob("*.png"))
    assert len(pngs) >= 5  # results, curves, importance, TSS profile, ablation
    assert html.count('src="data:image/png;base64,') == len(pngs)
    md = written["markdown"].read_text()
    linked = re.findall(r"!\[(?:\\.|[^\]\\])*\]\((figures/[^)]+\.png)\)", md)
    assert len(linked) == len(pngs)
    assert all((written["html"].parent / link).is_file() for link in linked)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_sections_carry_the_expected_content(written):
    md = written["markdown"].read_text()
    assert "constant predictor" in md and "noise ceiling" in md
    assert "k-mer" in md and "| kmer |" in md  # the k-mer baseline is shown as such
    assert "example p (adj)" in md and "sparse10" in md
    assert "top-k positions" in md and "TATAAA" in md  # planted-motif enrichment + recovery
    assert "TATA window -31..-24" in md and "TBP MA0108" in md  # promoter enrichment
    assert "macs_per_seq" in md and "49610" in md  # compute table, counts in full
    assert "Seed claims" in md and "2.11x parameter efficiency" in md


def test_empty_study_still_has_every_section(tmp_path):
    paths = write_report("empty", [], [], tmp_path, "attention")
    md = paths["markdown"].read_text()
    for title in SECTIONS:
        assert f"\n## {title}\n" in md
    assert md.count("no data:") >= len(SECTIONS)


def test_claims_section_without_the_needed_models(tmp_path):
    results, records = fake_study(seeds=(0,), promoters=False)
    results = [r for r in results if r.model != "sparse10"]
    for r in results:
        r.model_name = "gb_cnn"
    paths = write_report(
        "nocl", results, records, tmp_path, "attention", meta={"n_boot": 50, "claims": False}
    )
    md = paths["markdown"].read_text()
    claims = md.split("\n## Claims\n", 1)[1]
    assert claims.lstrip().startswith("no data:")
    assert "Significance" in md


def test_fmt():
    assert fmt(float("nan")) == "—"
    assert fmt(0.000012) == "1.20e-05"
    assert fmt(123456.0) == "123456"
    assert fmt(0.12345) == "0.1235"
    assert fmt(True) == "yes"
