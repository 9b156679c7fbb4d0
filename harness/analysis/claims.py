"""Published claims, measured on a study's runs and given a three-way verdict.

The claims are data (a claims file, :mod:`harness.config.claims`): each names its measurement
kind, the runs and dataset it is measured on (by selector), the claimed value, a direction and a
margin. :func:`judge_claims` finds each claim's runs, measures it with the kind's function
(:mod:`harness.analysis.claim_kinds`) and judges the measurement with :func:`verdict`. A claim
whose runs or dataset the study lacks is "not testable here", with the reason.

The rule (:data:`RULE`, printed above the report's table): a claim is **supported** when the whole
95% CI lies on the claim's side of its boundary (the claimed value moved by the declared margin),
**refuted** when the whole CI lies on the other side, and **inconclusive** otherwise, and always
inconclusive when it rests on fewer than :data:`MIN_SEEDS` seeds or :data:`MIN_EXAMPLES` test
examples, or has no interval. Boundaries by direction, with ``v`` the claimed value and ``m`` the
margin:

- ``at_least`` (and ``gain``): claim side ``>= v - m``; a ``gain`` must also exclude 0, and an
  ``at_least`` with a weak baseline (``constant``) must also exclude it;
- ``at_most``: claim side ``<= v + m``;
- ``above``: claim side ``> v + m`` (``v`` may be the weak baseline measured beside the value);
- ``approx`` (equivalence): claim side ``[v - m, v + m]``, the whole CI inside it; refuted when the
  CI lies wholly outside it;
- ``in_range``: claim side ``[low - m, high + m]``, likewise.

A deterministic figure (a compute field: parameters, MACs) has no sampling error: its CI is the
value itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.analysis import claim_kinds  # noqa: F401  (registers the measurement kinds)
from harness.analysis.claim_runs import (
    MEASUREMENTS,
    MIN_EXAMPLES,
    MIN_SEEDS,
    Measure,
    NotTestable,
    Options,
    Records,
    Results,
    evidence,
    find_target,
)
from harness.config.claims import ClaimSet, ClaimSpec

__all__ = [
    "COLUMNS",
    "INCONCLUSIVE",
    "MIN_EXAMPLES",
    "MIN_SEEDS",
    "NOT_TESTABLE",
    "REFUTED",
    "RULE",
    "SUPPORTED",
    "Measure",
    "NotTestable",
    "any_testable",
    "judge_claim",
    "judge_claims",
    "measure_claim",
    "seeds_to_settle",
    "verdict",
]

NOT_TESTABLE, SUPPORTED, REFUTED, INCONCLUSIVE = (
    "not testable here",
    "supported",
    "refuted",
    "inconclusive",
)
RULE = (
    "A claim is **supported** when the whole 95% CI lies on the claim's side of its boundary (the "
    "claimed value moved by the declared margin), **refuted** when the whole CI lies on the other "
    "side, and **inconclusive** otherwise; always **inconclusive** with fewer than "
    f"{MIN_SEEDS} seeds or {MIN_EXAMPLES} test examples. Deterministic figures (parameters, MACs) "
    "have no sampling error: their CI is the value, and test examples do not enter them."
)
COLUMNS = [
    "claim_id",
    "claim",
    "source",
    "claimed",
    "claimed_value",
    "margin",
    "measured",
    "ci_lo",
    "ci_hi",
    "constant",
    "seeds",
    "examples",
    "verdict",
    "to_settle",
    "basis",
    "why",
]


# ------------------------------------------------------------------------------ verdicts
def _interval(m: Measure) -> tuple[float, float] | None:
    """The CI to judge on: the value itself for a deterministic figure, None without one."""
    if m.exact:
        return m.value, m.value
    if np.isfinite(m.lo) and np.isfinite(m.hi):
        return m.lo, m.hi
    return None


def _claim_side(direction: str, claimed: Any, margin: float) -> tuple[float, float, bool]:
    """``(low, high, open_low)``: the claim's side of the boundary as an interval (``open_low``:
    the low end itself is not on the claim's side)."""
    if direction in ("at_least", "gain"):
        return claimed - margin, np.inf, False
    if direction == "above":
        return claimed + margin, np.inf, True
    if direction == "at_most":
        return -np.inf, claimed + margin, False
    if direction == "in_range":
        return claimed[0] - margin, claimed[1] + margin, False
    return claimed - margin, claimed + margin, False  # approx: equivalence


def _inside(lo: float, hi: float, side: tuple[float, float, bool]) -> bool:
    low, high, open_low = side
    above_low = lo > low if open_low else lo >= low
    return above_low and hi <= high


def _outside(lo: float, hi: float, side: tuple[float, float, bool]) -> bool:
    low, high, open_low = side
    below = hi <= low if open_low else hi < low
    return below or lo > high


def verdict(direction: str, claimed: Any, m: Measure, margin: float = 0.0) -> tuple[str, str]:
    """Three-way verdict and a one-line reason for a measurement against a claim (see
    :data:`RULE` and the module docstring).

    Parameters
    ----------
    direction : at_least, at_most, approx, above, gain or in_range
    claimed : the claimed number, or (low, high) for in_range
    m : the measurement with its CI, weak baseline (``constant``) and evidence (seeds, examples)
    margin : the claim's declared margin

    Returns
    -------
    (verdict, why): SUPPORTED, REFUTED, INCONCLUSIVE or NOT_TESTABLE, and the reason
    """
    if not np.isfinite(m.value):
        return NOT_TESTABLE, "the measurement is undefined (NaN)"
    side = _claim_side(direction, claimed, margin)
    bound = _describe_side(side)
    # test examples do not enter a deterministic figure (MACs, parameters); seeds always count
    if m.n_seeds < MIN_SEEDS or (m.n_examples < MIN_EXAMPLES and not m.exact):
        return INCONCLUSIVE, (
            f"rests on {m.n_seeds} seed(s) and {m.n_examples} test examples: at least "
            f"{MIN_SEEDS} and {MIN_EXAMPLES} are needed (measured {m.value:.4g}; claim side "
            f"{bound})"
        )
    ci = _interval(m)
    if ci is None:
        return INCONCLUSIVE, f"no interval for the measured {m.value:.4g} (claim side {bound})"
    lo, hi = ci
    shown = f"{m.value:.4g}" if m.exact else f"95% CI [{lo:.4g}, {hi:.4g}]"
    if _outside(lo, hi, side):
        return REFUTED, f"the {shown} lies wholly outside the claim side {bound}"
    if not _inside(lo, hi, side):
        return INCONCLUSIVE, f"the {shown} straddles the boundary of the claim side {bound}"
    floor = 0.0 if direction == "gain" else m.constant if direction == "at_least" else np.nan
    if np.isfinite(floor) and not lo > floor:
        return INCONCLUSIVE, (
            f"the {shown} lies in the claim side {bound} but does not exclude {floor:.4g} "
            f"({'no gain' if direction == 'gain' else 'the constant predictor'})"
        )
    return SUPPORTED, f"the {shown} lies wholly inside the claim side {bound}"


def _describe_side(side: tuple[float, float, bool]) -> str:
    low, high, open_low = side
    if not np.isfinite(high):
        return f"{'>' if open_low else '>='} {low:.4g}"
    if not np.isfinite(low):
        return f"<= {high:.4g}"
    return f"[{low:.4g}, {high:.4g}]"


def seeds_to_settle(
    direction: str, claimed: Any, m: Measure, margin: float = 0.0, max_seeds: int = 200
) -> str:
    """What more evidence would settle an inconclusive claim, in words.

    With ``n`` seeds and a CI of half-width ``h``, the spread it implies (``h sqrt(n) / t``) is
    held fixed and the seeds are found at which the half-width falls below the distance from the
    mean to the nearest boundary of the claim side. Approximate: it assumes the CI's width comes
    from seed-to-seed spread (a bootstrap CI also holds test-set error, which more seeds do not
    shrink) and that the mean stays where it is.
    """
    side = _claim_side(direction, claimed, margin)
    edges = [e for e in side[:2] if np.isfinite(e)]
    distance = min(abs(m.value - e) for e in edges) if edges else np.inf
    if m.n_seeds < MIN_SEEDS and not (np.isfinite(m.lo) and np.isfinite(m.hi)):
        return f"run at least {MIN_SEEDS} seeds"
    if not (np.isfinite(m.lo) and np.isfinite(m.hi)) or m.n_seeds < 2:
        return "an interval: more seeds"
    if distance == 0:
        return "cannot be settled: the mean sits on the boundary"
    n = m.n_seeds
    spread = (m.hi - m.lo) / 2 * np.sqrt(n) / stats.t.ppf(0.975, n - 1)
    for k in range(max(n, MIN_SEEDS), max_seeds + 1):
        if stats.t.ppf(0.975, k - 1) * spread / np.sqrt(k) < distance:
            return f"about {k} seeds (now {n})"
    return (
        f"more than {max_seeds} seeds (now {n}): the mean is within {distance:.3g} of the boundary"
    )


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
    seeds, examples = evidence(target)
    basis = f"{m.basis}; {claim.note}" if claim.note else m.basis
    # a kind that rests on a subset of the test split (masking curves) says how many it used
    return replace(m, basis=basis, n_seeds=seeds, n_examples=m.n_examples or examples)


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
        "margin": claim.margin,
        "constant": np.nan,
        "seeds": 0,
        "examples": 0,
        "to_settle": "",
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
    why = f"{why}; {m.note}" if m.note else why
    settle = seeds_to_settle(claim.direction, target, m, claim.margin) if v == INCONCLUSIVE else ""
    lo, hi = (m.value, m.value) if m.exact else (m.lo, m.hi)
    return {
        **row,
        "measured": m.value,
        "ci_lo": lo,
        "ci_hi": hi,
        "constant": m.constant,
        "seeds": m.n_seeds,
        "examples": m.n_examples,
        "verdict": v,
        "to_settle": settle,
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
