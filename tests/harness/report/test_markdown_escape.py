"""Names the user chose (study, datasets, models, claims, failure reasons, params) are text in
both report files: they cannot break a Markdown table, open a link or inject HTML, and the
harness's own figures come through unchanged."""

from __future__ import annotations

import dataclasses
import re

import pytest

from harness.analysis.analyze import analyze
from harness.analysis.bundle import Analysis
from harness.config.load import load_claims
from harness.report.page import md_escape, md_inline
from harness.report.render import write_report
from tests.harness.fakes import SEED_CLAIMS, fake_study

markdown_it = pytest.importorskip("markdown_it")  # rich's Markdown parser: CommonMark + tables

STUDY = "<script>alert(1)</script> | # toy"
DATASET = "syn|the_tic_"
MODELS = {"attention": "*bold* <b>x</b>", "sparse10": "[x](y) `z`"}
REASON = "ValueError: a | b <img src=x onerror=alert(1)> [click](http://e.vil) *boom*"
CLAIM = "Beats | everything **always** <i>x</i> ![pic](http://e.vil/p.png)"
PARAM = "a|b *c* [d](e)"
FACTS = {"note": "# not a heading\n- not a list\n> not a quote"}


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a|b", r"a\|b"),
        ("*bold*", r"\*bold\*"),
        ("**bold**", r"\*\*bold\*\*"),
        ("[x](y)", r"\[x\](y)"),
        ("![x](y)", r"!\[x\](y)"),
        ("<script>", r"\<script>"),
        ("a\\b", r"a\\b"),
        ("`code`", r"\`code\`"),
        ("_x_ a_b", r"\_x\_ a_b"),
        ("# h #", r"\# h \#"),
        ("~~gone~~", r"\~\~gone\~\~"),
        ("&lt;b&gt; R&D", r"\&lt;b\&gt; R&D"),
        ("x >= 1, 2 - 1", "x >= 1, 2 - 1"),
        ("a\n- b\n> c\n1. d\n---", "a\n\\- b\n\\> c\n1\\. d\n\\---"),
        ("macs_per_seq", "macs_per_seq"),
        ("0.81 [0.78, 0.84]", "0.81 [0.78, 0.84]"),
        ("-1.20e-05", "-1.20e-05"),
        ("-inf", "-inf"),
        ("49610", "49610"),
    ],
)
def test_md_escape(text, escaped):
    assert md_escape(text) == escaped


def test_block_markers_are_escaped_only_where_a_line_starts():
    assert md_escape("- a") == "- a"  # mid-line, e.g. a table cell
    assert md_escape("- a", line_start=True) == r"\- a"
    assert md_escape("1. a", line_start=True) == r"1\. a"
    assert md_escape("-0.5 a", line_start=True) == "-0.5 a"  # a negative number is no bullet
    assert md_escape("1.", line_start=True) == r"1\."  # a figure, but here a list item
    assert md_inline("- **x** - y `- z`") == r"\- **x** - y `- z`"


def test_the_reports_own_markup_is_kept_and_only_it():
    assert md_inline("Study **a|b** uses `x|y` and *c*") == r"Study **a\|b** uses `x|y` and \*c\*"


def _hostile_analysis() -> Analysis:
    results, records = fake_study(seeds=(0, 1), promoters=False)
    results = [
        dataclasses.replace(
            r, dataset=DATASET, model=MODELS[r.model], params={**r.params, "note": PARAM}
        )
        for r in results
    ]
    records = [dataclasses.replace(r, dataset=DATASET) for r in records]
    analysis = analyze(
        results,
        records,
        reference=MODELS["attention"],
        baselines=[],
        claims=load_claims(SEED_CLAIMS),
        n_boot=20,
        study=STUDY,
        facts=FACTS,
        failures=[{"dataset": DATASET, "model": MODELS["sparse10"], "seed": 2, "reason": REASON}],
    )
    claims = analysis.claims.copy()
    claims.loc[claims.index[0], "claim"] = CLAIM
    return dataclasses.replace(analysis, claims=claims)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_report(_hostile_analysis(), tmp_path_factory.mktemp("hostile"))


def _parsed(md: str) -> tuple[str, list]:
    parser = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    return parser.render(md), parser.parse(md)


def _row_widths(tokens: list) -> list[tuple[int, list[int]]]:
    """Per table: the header's cell count and every body row's."""
    tables, cells = [], 0
    for token in tokens:
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            cells = 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
        elif token.type == "tr_close":
            tables[-1].append(cells)
    return [(rows[0], rows[1:]) for rows in tables]


def test_markdown_renders_user_text_as_text(written):
    md = written["markdown"].read_text()
    html = _parsed(md)[0]
    # nothing the user wrote became markup: no HTML, link, image, heading, list or quote of theirs
    for tag in ("<script", "<b>", "<i>", "<a ", "<em>", "<del>", "<ul>", "<ol>", "<blockquote>"):
        assert tag not in html, tag
    assert re.findall(r"<img src=\"(.*?)\"", html) and all(
        src.startswith("figures/") for src in re.findall(r"<img src=\"(.*?)\"", html)
    )  # the report's own figures, no image of theirs
    headings = re.findall(r"<h1>(.*?)</h1>", html)
    assert headings == ["Study report: &lt;script&gt;alert(1)&lt;/script&gt; | # toy"]
    # ... and it all reads as the user wrote it
    for text in ("*bold* &lt;b&gt;x&lt;/b&gt;", "[x](y) `z`", "syn|the_tic_", "a|b *c* [d](e)"):
        assert text in html, text
    assert "[click](http://e.vil) *boom*" in html
    assert "<strong>always</strong>" not in html and "**always**" in html
    assert "# not a heading\n- not a list\n&gt; not a quote" in html


def test_markdown_tables_keep_their_columns(written):
    widths = _row_widths(_parsed(written["markdown"].read_text())[1])
    assert len(widths) >= 5
    for head, rows in widths:
        assert all(n == head for n in rows), (head, rows)


def test_markdown_keeps_the_harness_figures_and_markup(written):
    md = written["markdown"].read_text()
    assert re.search(r"\| \d\.\d+ \[\d\.\d+, \d\.\d+\] \|", md)  # a CI cell, unescaped
    assert "macs_per_seq" in md and "| 49610 |" in md
    assert r"Study **\<script>alert(1)\</script> \| \# toy**" in md


def test_html_escapes_user_text(written):
    html = written["html"].read_text()
    assert "<script" not in html and "<b>x" not in html and "<img src=x" not in html
    assert "<i>x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<title>Study report: &lt;script&gt;" in html
