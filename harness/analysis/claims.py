"""Published claims, measured on a study's runs and given a verdict.

The claims are data (a claims file, :mod:`harness.config.claims`): each names its measurement
kind, the runs and dataset it is measured on (by selector), the claimed value, a direction and a
margin. :func:`judge_claims` finds each claim's runs, measures it with the kind's function
(:mod:`harness.analysis.claim_kinds`) and judges the measurement with :func:`verdict`. A claim
whose runs or dataset the study lacks is "not testable here", with the reason.

Verdict rules by direction (see ``docs/report.md``); ``tol`` is the claim's margin, half a unit
of its last printed digit:

- ``at_least``: supported when the measured mean reaches the claimed value (mean >= claimed - tol)
  and, where a weak baseline is given, the CI's lower end is above it;
- ``approx`` (a reported figure): supported when the 95% CI contains the claimed value, not
  testable when that CI is wider than the figure itself (it could not tell the claim from 0);
- ``gain`` (an improvement of a given size): supported when the CI's lower end is above 0 and the
  mean reaches the claimed size;
- ``above`` (better than a baseline / chance): supported when the CI's lower end is above it;
- ``at_most``: supported when the mean is at most the claimed value (a CI that straddles it is
  noted in the reason);
- ``in_range``: supported when the measured value lies in the claimed range.

With a single seed the CI is undefined and the mean stands in for both ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import claim_kinds  # noqa: F401  (registers the measurement kinds)
from harness.analysis.claim_runs import (
    MEASUREMENTS,
    Measure,
    NotTestable,
    Options,
    Records,
    Results,
    find_target,
)
from harness.config.claims import ClaimSet, ClaimSpec

__all__ = [
    "COLUMNS",
    "NOT_SUPPORTED",
    "NOT_TESTABLE",
    "SUPPORTED",
    "Measure",
    "NotTestable",
    "any_testable",
    "judge_claim",
    "judge_claims",
    "measure_claim",
    "verdict",
]

NOT_TESTABLE, SUPPORTED, NOT_SUPPORTED = "not testable here", "supported", "not supported"
COLUMNS = [
    "claim_id",
    "claim",
    "source",
    "claimed",
    "claimed_value",
    "measured",
    "ci_lo",
    "ci_hi",
    "constant",
    "verdict",
    "basis",
    "why",
]


# ------------------------------------------------------------------------------ verdicts
def _ends(m: Measure) -> tuple[float, float]:
    # With one seed there is no interval: the point estimate stands in for both ends.
    lo = m.lo if np.isfinite(m.lo) else m.value
    hi = m.hi if np.isfinite(m.hi) else m.value
    return lo, hi


def verdict(kind: str, claimed: Any, m: Measure, tol: float = 0.0) -> tuple[str, str]:
    """Verdict and a one-line reason for a measured value against a claim (rules above).

    Parameters
    ----------
    kind : the claim's direction: at_least, at_most, approx, above, gain or in_range
    claimed : the claimed number, or (low, high) for in_range
    m : the measurement, with its CI and the weak baseline (``constant``) beside it
    tol : the claim's margin

    Returns
    -------
    (verdict, why): one of SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE, and the reason
    """
    if not np.isfinite(m.value):
        return NOT_TESTABLE, "the measurement is undefined (NaN)"
    lo, hi = _ends(m)
    ci = (
        f"95% CI [{lo:.4g}, {hi:.4g}]"
        if np.isfinite(m.lo)
        else "no CI: one seed or a deterministic figure"
    )
    if kind == "in_range":
        ok = claimed[0] - tol <= m.value <= claimed[1] + tol
        return (SUPPORTED if ok else NOT_SUPPORTED), f"best at {m.value:.4g}; {m.note}".strip("; ")
    if kind == "approx":
        ok = lo - tol <= claimed <= hi + tol
        if not np.isfinite(m.lo):
            return (SUPPORTED if ok else NOT_SUPPORTED), (
                f"claimed {claimed:.4g} {'matches' if ok else 'differs from'} the measured "
                f"{m.value:.4g} ({ci})"
            )
        where = "inside" if ok else ("below" if claimed < lo else "above")
        if ok and (hi - lo) / 2 > max(abs(claimed), tol):
            # an interval wider than the figure itself cannot tell the claim from 0
            return NOT_TESTABLE, f"the {ci} is too wide to test {claimed:.4g}: more seeds needed"
        return (SUPPORTED if ok else NOT_SUPPORTED), f"claimed {claimed:.4g} is {where} the {ci}"
    if kind == "above":
        ok = lo > claimed
        what = ci if np.isfinite(m.lo) else f"the measured {m.value:.4g} ({ci})"
        return (SUPPORTED if ok else NOT_SUPPORTED), (
            f"{what} {'lies above' if ok else 'does not lie above'} {claimed:.4g}"
        )
    if kind == "at_most":
        ok = m.value <= claimed + tol
        firm = (hi <= claimed + tol) if ok else (lo > claimed + tol)
        reason = f"mean {m.value:.4g} {'<=' if ok else '>'} {claimed:.4g} ({ci}"
        reason += (
            ")" if firm or not np.isfinite(m.lo) else "; the CI straddles the claim: more seeds)"
        )
        return (SUPPORTED if ok else NOT_SUPPORTED), reason
    if kind == "gain":
        if lo <= 0:
            return NOT_SUPPORTED, f"no significant gain: {ci} includes 0 or less"
        ok = m.value >= claimed - tol
        return (SUPPORTED if ok else NOT_SUPPORTED), (
            f"significant gain, mean {m.value:.4g} {'reaches' if ok else 'falls short of'} "
            f"{claimed:.4g} ({ci})"
        )
    # at_least
    if np.isfinite(m.constant) and lo <= m.constant:
        return NOT_SUPPORTED, (f"not better than the constant predictor ({m.constant:.4g}): {ci}")
    ok = m.value >= claimed - tol
    firm = (lo >= claimed - tol) if ok else (hi < claimed - tol)
    reason = f"mean {m.value:.4g} {'reaches' if ok else 'is below'} {claimed:.4g} ({ci}"
    reason += ")" if firm or not np.isfinite(m.lo) else "; the CI straddles the claim: more seeds)"
    return (SUPPORTED if ok else NOT_SUPPORTED), reason


# ------------------------------------------------------------------------------ judging
def measure_claim(
    claim: ClaimSpec, results: Results, records: Records, options: Options | None = None
) -> Measure:
    """Find the claim's runs and measure it with its kind's function (its ``note`` appended to
    the basis).

    Raises
    ------
    NotTestable : the study lacks the runs, dataset or figures the claim needs
    """
    kind = MEASUREMENTS[claim.kind]
    target = find_target(claim, kind, results, records)
    m = kind.measure(claim, target, options or Options())
    if not claim.note:
        return m
    return Measure(m.value, m.lo, m.hi, m.constant, f"{m.basis}; {claim.note}", m.note)


def _claimed_value(claim: ClaimSpec) -> float:
    # a single number; a range or "the baseline" has none
    return float(claim.value) if isinstance(claim.value, int | float) else np.nan


def judge_claim(
    claim: ClaimSpec, results: Results, records: Records, options: Options | None = None
) -> dict[str, Any]:
    """One row of :func:`judge_claims`."""
    row: dict[str, Any] = {
        "claim_id": claim.id,
        "claim": claim.claim,
        "source": str(claim.source),
        "claimed": claim.printed,
        "claimed_value": _claimed_value(claim),
        "measured": np.nan,
        "ci_lo": np.nan,
        "ci_hi": np.nan,
        "constant": np.nan,
        "basis": "",
        "why": "",
    }
    try:
        m = measure_claim(claim, results, records, options)
    except NotTestable as err:
        return {**row, "verdict": NOT_TESTABLE, "why": str(err)}
    # `value: baseline`: judged against the weak baseline measured beside the value (chance)
    target = m.constant if claim.value == "baseline" else claim.value
    v, why = verdict(claim.direction, target, m, claim.margin)
    return {
        **row,
        "measured": m.value,
        "ci_lo": m.lo,
        "ci_hi": m.hi,
        "constant": m.constant,
        "verdict": v,
        "basis": m.basis,
        "why": why,
    }


def judge_claims(
    claims: ClaimSet | Sequence[ClaimSpec],
    results: Results,
    records: Records,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per claim: measured value, 95% CI, weak baseline, verdict and why.

    Parameters
    ----------
    claims : a validated claims file (``harness.config.load.study_claims(study)``) or its claims
    results, records : the study's runs and test splits
    n_boot, seed : bootstrap resamples and seed for the retention intervals

    Returns
    -------
    DataFrame with columns :data:`COLUMNS`, one row per claim in file order; ``constant`` is the
    constant predictor's (or chance's) value where the claim is judged against a weak baseline;
    ``basis`` says exactly what was measured (dataset, runs, metric key) and ``why`` explains the
    verdict.
    """
    specs = claims.claims if isinstance(claims, ClaimSet) else list(claims)
    options = Options(n_boot=n_boot, seed=seed)
    rows = [judge_claim(c, results, records, options) for c in specs]
    return pd.DataFrame(rows, columns=COLUMNS)


def any_testable(table: pd.DataFrame) -> bool:
    """Whether any claim could be measured on the study."""
    return bool((table["verdict"] != NOT_TESTABLE).any()) if len(table) else False
