"""The report: both files exist, every section is there, the HTML stands alone, and the page is a
view of the Analysis (the same Analysis renders to the same bytes). That no module names a model
is checked for all of harness/ by tests/harness/test_no_model_names.py."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.analyze import analyze
from harness.analysis.bundle import Analysis
from harness.report.blocks import fmt
from harness.report.claims_section import claims_shown
from harness.report.page import md_escape
from harness.report.render import SECTIONS, build_sections, write_report
from tests.harness.fakes import fake_analysis, fake_study

HARNESS = Path(__file__).resolve().parents[3] / "harness"
# the modules of the analysis stage and of the report, each kept under ~500 lines
VIEW_AND_STAGE = [
    *sorted((HARNESS / "report").rglob("*.py")),
    *(
        HARNESS / "analysis" / f"{name}.py"
        for name in (
            "analyze",
            "bundle",
            "compute",
            "enrichment",
            "frames",
            "headline",
            "index",
            "masking",
            "overview",
            "sweeps",
            "traces",
        )
    ),
]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_report(fake_analysis(), tmp_path_factory.mktemp("report"))


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
    assert "| kmer | baseline |" in md and "beats kmer" in md  # the baseline role, by label
    assert "example p (adj)" in md and "sparse10" in md
    assert "top-k positions" in md and "TATAAA" in md  # planted-motif enrichment + recovery
    assert "TATA window -31..-24" in md and "TBP MA0108" in md  # promoter enrichment
    assert "JASPAR 2024 CORE" in md  # the JASPAR scan of the promoter set
    assert "macs_per_seq" in md and "49610" in md  # compute table, counts in full
    assert "**Claims**" in md and "2.11x parameter efficiency" in md
    assert "parent_run_id: 0123abcd" in md


def test_verdict_cells_are_styled_in_html(written):
    html = written["html"].read_text()
    verdicts = set(fake_analysis().claims["verdict"])
    assert verdicts > {"not testable here"}
    for verdict in verdicts:
        assert f'<td class="{verdict.replace(" ", "-")}">{verdict}</td>' in html


def test_claims_table_is_rendered_with_the_columns_it_has(written):
    claims = claims_shown(fake_analysis().claims)
    md = written["markdown"].read_text()
    header = "| " + " | ".join(md_escape(str(c)) for c in claims.columns) + " |"
    assert header in md


def test_rendering_twice_gives_the_same_bytes(written, tmp_path):
    again = write_report(fake_analysis(), tmp_path)
    for key in ("html", "markdown"):
        assert again[key].read_bytes() == written[key].read_bytes(), key


def test_empty_study_still_has_every_section(tmp_path):
    analysis = analyze([], [], reference="attention", baselines=[], study="empty")
    paths = write_report(analysis, tmp_path)
    md = paths["markdown"].read_text()
    for title in SECTIONS:
        assert f"\n## {title}\n" in md
    assert md.count("no data:") >= len(SECTIONS)


def test_without_a_claims_file_or_baselines_the_sections_say_so(tmp_path):
    results, records = fake_study(seeds=(0,), promoters=False)
    results = [r for r in results if r.model != "sparse10"]
    analysis = analyze(results, records, reference="attention", baselines=[], n_boot=50)
    md = write_report(analysis, tmp_path)["markdown"].read_text()
    claims = md.split("\n## Claims\n", 1)[1]
    assert claims.lstrip().startswith("no data:") and "claims file" in claims
    assert "no baseline model" in md
    assert "Significance" in md


def test_a_note_in_the_analysis_becomes_the_sections_no_data_line():
    analysis = Analysis(
        meta=fake_analysis().meta,
        notes={"enrichment": "bad motif file", "comparisons": "no reference runs"},
    )
    sections = {s.title: s for s in build_sections(analysis)}
    assert sections["Motif enrichment"].blocks[0].text == "no data: bad motif file"
    assert sections["Significance"].blocks[0].text == "no data: no reference runs"


def test_report_modules_stay_small():
    for path in VIEW_AND_STAGE:
        assert len(path.read_text().splitlines()) < 500, path.name


def test_fmt():
    assert fmt(float("nan")) == "—"
    assert fmt(pd.NA) == "—"
    assert fmt(0.000012) == "1.20e-05"
    assert fmt(123456.0) == "123456"
    assert fmt(0.12345) == "0.1235"
    assert fmt(True) == "yes"
