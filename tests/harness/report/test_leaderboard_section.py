"""The Leaderboard section renders an Analysis' leaderboard, and says why when it has none."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.analysis.bundle import Analysis, StudyMeta
from harness.analysis.leaderboard import SCORE_COLUMNS, leaderboard
from harness.report.blocks import Plot, Table, Text
from harness.report.leaderboard_section import LEADERBOARD_TITLE, section_leaderboard
from harness.report.render import SECTIONS, build_sections, write_report

ORDER = {"cnn": 0.95, "kmer": 0.85, "linear": 0.75, "constant": 0.5}
TASKS = ["prom_a", "prom_b", "prom_c", "prom_d"]


def fake_analysis() -> Analysis:
    """An Analysis holding only a leaderboard: 4 tasks x 4 models x 3 seeds."""
    rows = [
        [task, model, seed, "auroc", centre - 0.02 * i + 0.005 * seed]
        for i, task in enumerate(TASKS)
        for model, centre in ORDER.items()
        for seed in range(3)
    ]
    board = leaderboard(pd.DataFrame(rows, columns=SCORE_COLUMNS))
    meta = StudyMeta(
        study="suite_toy",
        reference="cnn",
        datasets=tuple(TASKS),
        models={t: tuple(ORDER) for t in TASKS},
        suite="gue_promoters",
    )
    return Analysis(
        meta=meta,
        leaderboard=board.table,
        leaderboard_ranks=board.ranks,
        leaderboard_pairs=board.pairs,
        leaderboard_test=board.test,
    )


def test_section_shows_the_ranked_table_the_figure_the_tests_and_the_power_note():
    sec = section_leaderboard(fake_analysis())
    assert sec.title == LEADERBOARD_TITLE and LEADERBOARD_TITLE in SECTIONS
    tables = [b for b in sec.blocks if isinstance(b, Table)]
    board = tables[0].frame
    assert list(board["model"]) == ["cnn", "kmer", "linear", "constant"]
    assert list(board["mean rank"]) == ["1", "2", "3", "4"]
    assert list(board.columns[-4:]) == TASKS
    assert board.loc[0, "prom_a"].startswith("0.95") and board.loc[0, "prom_a"].endswith("(#1)")
    assert "[" in board.loc[0, "prom_a"]  # the 95% interval over seeds
    pairs = tables[1].frame
    assert len(pairs) == 6 and "Wilcoxon p (Holm)" in pairs.columns
    plots = [b for b in sec.blocks if isinstance(b, Plot)]
    assert len(plots) == 1 and plots[0].png.startswith(b"\x89PNG")
    text = " ".join(b.text for b in sec.blocks if isinstance(b, Text))
    assert "suite **gue_promoters**" in text
    assert "Friedman chi-square = 12" in text
    assert "cannot go below 0.125" in text


def test_without_a_leaderboard_the_section_says_why():
    a = Analysis(
        meta=StudyMeta(study="one", reference="cnn"),
        notes={"leaderboard": "the study has one dataset"},
    )
    sec = section_leaderboard(a)
    assert len(sec.blocks) == 1 and sec.blocks[0].text == "no data: the study has one dataset"


def test_report_renders_it_and_the_same_after_save_and_load(tmp_path: Path):
    a = fake_analysis()
    paths = write_report(a, tmp_path / "first")
    md = paths["markdown"].read_text(encoding="utf-8")
    assert f"## {LEADERBOARD_TITLE}\n" in md and "figures/leaderboard.png" in md
    assert (paths["figures"] / "leaderboard.png").is_file()
    again = Analysis.load(a.save(tmp_path / "saved"))
    pd.testing.assert_frame_equal(again.leaderboard_ranks, a.leaderboard_ranks)
    assert again.meta.suite == "gue_promoters"
    titles = [s.title for s in build_sections(again)]
    assert LEADERBOARD_TITLE in titles
    second = write_report(again, tmp_path / "second")
    assert second["html"].read_bytes() == paths["html"].read_bytes()
