"""The study report: a view of an :class:`~harness.analysis.bundle.Analysis`, computing nothing.

``write_report`` writes a self-contained ``index.html`` and its Markdown twin ``report.md`` from
the same list of sections, each a list of text, table and figure blocks. The HTML embeds every
figure as a base64 PNG (no external assets); the Markdown links the same PNGs, written to
``figures/`` beside it. Every section of :data:`SECTIONS` is always present; one with nothing to
show says ``no data: <why>``. Those of :data:`OPTIONAL_SECTIONS` appear only when the study has
what they show (the sweep section: datasets that differ in one param).

The page is a pure function of the Analysis: rendering one Analysis twice, or once after
``Analysis.save`` / ``Analysis.load``, gives the same bytes. Its only time stamp is the
analysis' own ``meta.created``.
"""

from __future__ import annotations

from pathlib import Path

from harness.analysis.bundle import Analysis
from harness.report.blocks import Section
from harness.report.claims_section import section_claims
from harness.report.leaderboard_section import LEADERBOARD_TITLE, section_leaderboard
from harness.report.page import render_html, render_markdown
from harness.report.signal_sections import (
    section_ablation,
    section_enrichment,
    section_importance,
    section_learning_curves,
)
from harness.report.significance_section import section_significance
from harness.report.summary_sections import (
    section_baselines,
    section_compute,
    section_overview,
    section_results,
    section_settings,
)
from harness.report.sweep_section import SWEEP_TITLE, section_sweeps

SECTIONS = (
    "Overview",
    "Settings",
    "Results",
    "Baselines and noise ceiling",
    "Significance",
    LEADERBOARD_TITLE,
    "Learning curves",
    "Importance maps",
    "Motif enrichment",
    "Ablation curves",
    "Compute",
    "Claims",
)
# shown only when they have blocks; one study in many has what they show
OPTIONAL_SECTIONS = (SWEEP_TITLE,)


def build_sections(analysis: Analysis) -> list[Section]:
    """The report's sections in :data:`SECTIONS` order, an optional one after the section it
    extends (the sweep section after Results) when it has blocks."""
    builders = [
        section_overview,
        section_settings,
        section_results,
        section_sweeps,
        section_baselines,
        section_significance,
        section_leaderboard,
        section_learning_curves,
        section_importance,
        section_enrichment,
        section_ablation,
        section_compute,
        section_claims,
    ]
    built = [build(analysis) for build in builders]
    return [sec for sec in built if sec.blocks or sec.title not in OPTIONAL_SECTIONS]


def write_report(analysis: Analysis, out_dir: Path) -> dict[str, Path]:
    """Write ``index.html``, ``report.md``, ``figures/*.png`` and CSV tables to ``out_dir``.

    Parameters
    ----------
    analysis : what to show (:func:`harness.analysis.analyze.analyze` or ``Analysis.load``)
    out_dir : created if missing; files in it with the same names are overwritten

    Returns
    -------
    dict with keys ``html``, ``markdown``, ``figures`` (folder), ``summary``, ``comparisons`` and
    ``claims`` (the Analysis' tables of the same names, as CSV)
    """
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    sections = build_sections(analysis)
    for sec in sections:
        for plot in sec.figures():
            (fig_dir / f"{plot.name}.png").write_bytes(plot.png)
    title = f"Study report: {analysis.meta.study}"
    paths = {
        "html": out_dir / "index.html",
        "markdown": out_dir / "report.md",
        "figures": fig_dir,
        "summary": out_dir / "summary.csv",
        "comparisons": out_dir / "comparisons.csv",
        "claims": out_dir / "claims.csv",
    }
    paths["html"].write_text(render_html(title, sections), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(title, sections), encoding="utf-8")
    for key in ("summary", "comparisons", "claims"):
        getattr(analysis, key).to_csv(paths[key], index=False)
    return paths
