"""The report: both files exist, every section is there, the HTML stands alone."""

from __future__ import annotations

import re

import pytest

from harness.report.render import SECTIONS, fmt, write_report
from tests.harness.fakes import fake_study


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
