"""The Claims section: each published claim with its measurement, CI and verdict."""

from __future__ import annotations

from harness.analysis.bundle import Analysis
from harness.report.blocks import Section, Table, Text


def section_claims(a: Analysis) -> Section:
    """The claims table as the analysis holds it (columns as given), verdicts coloured in HTML."""
    sec = Section("Claims")
    if "claims" in a.notes:
        sec.no_data(a.notes["claims"])
        return sec
    if a.claims.empty:
        sec.no_data("the claims file lists no claims")
        return sec
    counts = ", ".join(f"{n} {verdict}" for verdict, n in a.claims_verdicts.items())
    sec.blocks.append(
        Text(
            "Each claim of the study's claims file, measured on this study"
            + (f": {counts}." if counts else ".")
            + " Verdict rules: docs/report.md."
        )
    )
    sec.blocks.append(Table(a.claims, "Claims", class_column="verdict"))
    return sec
