"""The Claims section: each published claim with its measurement, CI, evidence and verdict."""

from __future__ import annotations

import pandas as pd

from harness.analysis.bundle import Analysis
from harness.analysis.claims import RULE
from harness.report.blocks import Section, Table, Text, ci_column


def claims_shown(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims table as printed: the CI beside the measurement and the evidence beside the
    verdict (the full table, with ``basis``, is the logged ``claims`` CSV)."""
    return pd.DataFrame(
        {
            "claim_id": claims["claim_id"],
            "claim": claims["claim"],
            "source": claims["source"],
            "claimed": claims["claimed"],
            "margin": claims["margin"],
            "measured [95% CI]": ci_column(claims, "measured", "ci_lo", "ci_hi"),
            "seeds": claims["seeds"],
            "examples": claims["examples"],
            "verdict": claims["verdict"],
            "to settle": claims["to_settle"],
            "why": claims["why"],
        }
    )


def section_claims(a: Analysis) -> Section:
    """The rule, then the claims table, verdicts coloured in HTML."""
    sec = Section("Claims")
    if "claims" in a.notes:
        sec.no_data(a.notes["claims"])
        return sec
    if a.claims.empty:
        sec.no_data("the claims file lists no claims")
        return sec
    counts = ", ".join(f"{n} {verdict}" for verdict, n in a.claims_verdicts.items())
    sec.blocks.append(Text(f"**Rule.** {RULE}"))
    sec.blocks.append(
        Text(
            "Each claim of the study's claims file, measured on this study"
            + (f": {counts}." if counts else ".")
            + " `margin` is the claim's declared margin (bounds: half a unit of the last printed "
            "digit; approximate figures: the equivalence margin); `to settle` estimates the seeds "
            "an inconclusive claim would need. How each kind is measured: docs/report.md."
        )
    )
    sec.blocks.append(Table(claims_shown(a.claims), "Claims", class_column="verdict"))
    return sec
