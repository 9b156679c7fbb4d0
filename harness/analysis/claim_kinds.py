"""The measurement kinds a claim can name, one function each.

Each function reads its fields from the claim (declared per kind in
:data:`harness.config.claims.KINDS`) and the :class:`~harness.analysis.claim_runs.Target` the
claim's selectors found, and returns a :class:`~harness.analysis.claim_runs.Measure`, or raises
:class:`~harness.analysis.claim_runs.NotTestable` with the reason. Adding a kind: one function
here with ``@measurement(name)``, and its fields in ``KINDS``.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.claim_runs import (
    MIN_SEEDS,
    Measure,
    NotTestable,
    Options,
    Target,
    display_name,
    measurement,
    metric_key,
    run_value,
    seed_mean,
)
from harness.analysis.comparisons import metric_summary, pair_summary, retention_summary
from harness.analysis.intervals import mean_ci
from harness.config.claims import ClaimSpec
from harness.core.metrics import LOWER_IS_BETTER
from harness.core.results import RunResult
from harness.train.ablation import curve_area, curve_metric_name, value_at


# --------------------------------------------------------------------------------- metric
def _baseline(claim: ClaimSpec, target: Target) -> tuple[float, str]:
    """The weak baseline beside the value (a number, or a key's mean over the runs) and its
    description for the basis."""
    if claim.baseline is None:
        return float("nan"), ""
    if isinstance(claim.baseline, float):
        return claim.baseline, f"; constant = {claim.baseline:g}"
    value = mean_ci([run_value(r, claim.baseline) for r in target.runs])[0]
    return value, f"; constant = mean {claim.baseline}"


def _seed_interval(target: Target, key: str, options: Options) -> tuple[Measure, str]:
    """Mean of ``key`` over the runs with its interval, and how the interval was made: over
    seeds and test examples for a test metric the bootstrap can recompute from the scores
    (seeds share their test examples, so seeds alone would leave out the test-set error), a t
    interval over seeds otherwise (a model's own figures, compute fields)."""
    name = display_name(key)
    if key.startswith("test_") and all(name in r.metrics for r in target.runs):
        mean, lo, hi = metric_summary(target.runs, name, options.n_boot, options.seed)
        if np.isfinite(lo):
            return Measure(mean, lo, hi), "two-level interval (seeds and test examples)"
    return seed_mean(target.runs, key), "t interval over seeds"


@measurement("metric")
def metric(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """Mean over seeds of one metric of one set of runs, two-level interval where the scores
    allow it (else a t interval over seeds), beside ``baseline``."""
    key = metric_key(claim, target.task)
    m, interval = _seed_interval(target, key, options)
    if not np.isfinite(m.value):
        raise NotTestable(f"'{target.label}' on {target.dataset} recorded no {key}")
    constant, described = _baseline(claim, target)
    if claim.value == "baseline" and not np.isfinite(constant):
        raise NotTestable(
            f"'{target.label}' on {target.dataset} recorded no {claim.baseline}, the level the "
            "claim is judged against"
        )
    return Measure(
        m.value,
        m.lo,
        m.hi,
        constant,
        f"{target.where}: '{target.label}' {key}, {len(target.runs)} seeds, {interval}" + described,
    )


# ------------------------------------------------------------------------------ retention
def _reference_learned(target: Target, key: str) -> None:
    """Raise unless the reference's CI on ``key`` lies above the constant predictor's mean:
    a ratio to a model that learned nothing means nothing. Below MIN_SEEDS the mean stands in
    for the CI's low end (the ratio is then shown, but its verdict is inconclusive anyway)."""
    ref = seed_mean(target.reference, key)
    const = mean_ci([run_value(r, f"baseline_{key}") for r in target.reference])[0]
    few = len(target.reference) < MIN_SEEDS or not np.isfinite(ref.lo)
    ref_lo = ref.value if few else ref.lo
    if not ref_lo > const:
        raise NotTestable(
            f"on {target.dataset}, '{target.reference_label}' itself does not beat the constant "
            f"predictor ({key} {ref.value:.3g}, CI low end {ref_lo:.3g} vs {const:.3g}): a ratio "
            "to it is meaningless"
        )


@measurement("retention")
def retention(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """Candidate / reference of a test metric (reference / candidate where lower is better),
    with the two-level bootstrap CI and the constant predictor's ratio beside it."""
    if claim.reference_must_beat_constant:
        _reference_learned(target, claim.reference_must_beat_constant)
    key = metric_key(claim, target.task)
    name = display_name(key)
    cand, ref = target.label, target.reference_label
    res = retention_summary(
        [*target.runs, *target.reference],
        target.dataset,
        cand,
        ref,
        name,
        n_boot=options.n_boot,
        seed=options.seed,
    )
    if not res["n_seeds"]:
        raise NotTestable(f"'{cand}' and '{ref}' share no seed on {target.dataset}")
    if not np.isfinite(res["retention"]):
        raise NotTestable(
            f"on {target.dataset}, '{ref}' does not beat the constant predictor on {name} "
            f"({res['ref_mean']:.3g} vs {res['const_mean']:.3g})"
        )
    top, bottom = (ref, cand) if name in LOWER_IS_BETTER else (cand, ref)
    return Measure(
        res["retention"],
        res["lo"],
        res["hi"],
        res["const_retention"],
        f"{target.where}: {name}('{top}') / {name}('{bottom}'), {res['n_seeds']} seeds, "
        "two-level bootstrap CI; constant = the constant predictor's ratio",
    )


# ------------------------------------------------------------------------ compute figures
def _compute_pair(claim: ClaimSpec, target: Target) -> tuple[float, float, str]:
    """(reference mean, candidate mean, basis) of a deterministic compute field."""
    key = metric_key(claim, target.task)
    a = float(np.mean([run_value(r, key) for r in target.reference]))
    b = float(np.mean([run_value(r, key) for r in target.runs]))
    ref, cand = target.reference_label, target.label
    if not (np.isfinite(a) and np.isfinite(b) and b > 0):
        raise NotTestable(f"{key} missing for '{ref}' or '{cand}' on {target.dataset}")
    basis = f"{target.where}: '{ref}' {key}={a:.6g}, '{cand}' {key}={b:.6g} (deterministic: no CI)"
    return a, b, basis


@measurement("ratio")
def ratio(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """Reference / candidate of a compute field, e.g. parameter efficiency."""
    a, b, basis = _compute_pair(claim, target)
    return Measure(a / b, basis=basis, exact=True)


@measurement("savings")
def savings(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """1 - candidate / reference of a compute field, e.g. the share of MACs saved."""
    a, b, basis = _compute_pair(claim, target)
    return Measure(1 - b / a, basis=basis, exact=True)


# ----------------------------------------------------------------------------- difference
@measurement("difference")
def difference(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """Candidate minus reference of a test metric, paired by seed, times ``scale``; the
    two-level interval of :func:`~harness.analysis.comparisons.compare` (seeds and shared test
    examples) where the scores allow it, else a t interval over seeds."""
    key = metric_key(claim, target.task)
    row = pair_summary(
        [*target.runs, *target.reference],
        target.dataset,
        target.label,
        target.reference_label,
        display_name(key),
        options.n_boot,
        options.seed,
    )
    unit = f" in {claim.unit}" if claim.unit else ""
    if np.isfinite(row.get("boot_diff_lo", np.nan)):
        ends = sorted(claim.scale * np.array([row["boot_diff_lo"], row["boot_diff_hi"]]))
        return Measure(
            claim.scale * float(row["diff"]),
            float(ends[0]),
            float(ends[1]),
            basis=f"{target.where}: {display_name(key)} of '{target.label}' minus "
            f"'{target.reference_label}'{unit}, paired over {int(row['n_seeds'])} seeds, "
            "two-level interval (seeds and shared test examples)",
        )
    cand = {r.seed: r for r in target.runs}
    ref = {r.seed: r for r in target.reference}
    diffs = [
        claim.scale * (run_value(cand[s], key) - run_value(ref[s], key)) for s in cand if s in ref
    ]
    if not diffs:
        raise NotTestable(
            f"'{target.label}' and '{target.reference_label}' share no seed on {target.dataset}"
        )
    mean, lo, hi = mean_ci(diffs)
    return Measure(
        mean,
        lo,
        hi,
        basis=f"{target.where}: {display_name(key)} of '{target.label}' minus "
        f"'{target.reference_label}'{unit}, paired over {len(diffs)} seeds, t interval",
    )


# ----------------------------------------------------------------------------- best param
def _param_values(claim: ClaimSpec, runs: tuple[RunResult, ...]) -> set[float]:
    return {float(r.params[claim.param]) for r in runs if claim.param in r.params}


def _outside_claim(claim: ClaimSpec, target: Target) -> bool:
    """Several values of the param, some outside a claimed range: else 'the best value lies in
    the range' would hold by construction."""
    values = _param_values(claim, target.runs)
    if len(values) < 2:
        return False
    if not isinstance(claim.value, tuple):
        return True
    lo, hi = claim.value
    return not all(lo - claim.margin <= v <= hi + claim.margin for v in values)


@measurement(
    "best_param",
    keep=lambda claim, run: claim.param in run.params,
    pooled=True,
    usable=_outside_claim,
)
def best_param(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """The value of ``param`` whose runs have the best mean ``metric`` (highest; lowest for MSE,
    MAE, loss), with a seed-bootstrap interval of that best value (seeds resampled with
    replacement, the same draw for every value of the param, the best value found on each)."""
    key = metric_key(claim, target.task)
    sign = -1.0 if display_name(key) in LOWER_IS_BETTER else 1.0  # best = largest signed mean
    by_value: dict[float, dict[int, float]] = {}
    for r in target.runs:
        by_value.setdefault(float(r.params[claim.param]), {})[r.seed] = sign * run_value(r, key)
    values = sorted(by_value)
    means = {k: float(np.nanmean(list(by_value[k].values()))) for k in values}
    best = max(means, key=lambda k: means[k])
    listing = ", ".join(f"{k:g}: {sign * v:.4f}" for k, v in means.items())
    lo, hi = _best_value_interval(by_value, options)
    return Measure(
        best,
        lo,
        hi,
        basis=f"{target.where}: mean {key} by {claim.param} over '{target.label}', "
        "seed-bootstrap interval of the best value",
        note=f"{display_name(key)} by {str(claim.param).replace('_', ' ')} {listing}",
    )


def _best_value_interval(
    by_value: dict[float, dict[int, float]], options: Options
) -> tuple[float, float]:
    """2.5% and 97.5% quantiles (as param values) of the best value over seed resamples; NaN
    without at least two seeds shared by every value."""
    values = sorted(by_value)
    seeds = sorted(set.intersection(*(set(v) for v in by_value.values())))
    if len(seeds) < 2:
        return float("nan"), float("nan")
    table = np.array([[by_value[v][s] for s in seeds] for v in values])  # (values, seeds)
    rng = np.random.default_rng([options.seed, 104729])
    draws = rng.integers(0, len(seeds), size=(options.n_boot, len(seeds)))
    means = np.nanmean(table[:, draws], axis=2)  # (values, n_boot)
    best = np.asarray(values)[np.nanargmax(means, axis=0)]
    lo, hi = np.quantile(best, [0.025, 0.975], method="inverted_cdf")
    return float(lo), float(hi)


# -------------------------------------------------------------------------- masking curves
def curve_examples(runs: tuple[RunResult, ...]) -> int:
    """Test examples the masking curves were computed on (the smallest over the runs): the
    recorded curve rows, else the whole test split."""
    return min(len(r.ablation.get("index", r.y_true)) for r in runs)


def has_curves(claim: ClaimSpec, run: RunResult) -> bool:
    """Whether a run logged masking curves (the ablation kinds read nothing else)."""
    return len(run.ablation.get("n_masked", ())) > 0 and "high_to_low" in run.ablation


@measurement("ablation_gap", keep=has_curves)
def ablation_gap(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """Mean over the masking curve of random minus high_to_low: positive when the importance
    ranking finds positions the model needs."""
    runs = target.runs
    name = curve_metric_name(target.task)
    gaps = [
        curve_area(r.ablation["n_masked"], r.ablation["random"])
        - curve_area(r.ablation["n_masked"], r.ablation["high_to_low"])
        for r in runs
    ]
    mean, lo, hi = mean_ci(gaps)
    return Measure(
        mean,
        lo,
        hi,
        basis=f"{target.where}: '{target.label}', mean {name} over the masking curve, random "
        f"minus high_to_low, {len(runs)} seeds, t interval over seeds",
        n_examples=curve_examples(runs),
    )


@measurement("ablation_masked", keep=has_curves)
def ablation_masked(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """high_to_low with ``masked_fraction`` of the positions masked, minus the constant
    predictor. Not testable when the unmasked model is already within the claim's margin of
    it."""
    runs = target.runs
    name = curve_metric_name(target.task)
    length = target.length
    if length is None:
        length = int(max(r.ablation["n_masked"][-1] for r in runs))
    # chance on the curves' own rows where the run recorded it (the balanced analysis subset),
    # else the constant predictor on the whole test split
    chance = [
        float(r.ablation["chance"][0]) if "chance" in r.ablation else r.baseline_metrics.get(name)
        for r in runs
    ]
    start = np.nanmean(
        [r.ablation["high_to_low"][0] - c for r, c in zip(runs, chance, strict=True)]
    )
    near = claim.margin  # "within margin of chance": testable only if the model starts above it
    if not start > near:
        raise NotTestable(
            f"'{target.label}' on {target.dataset} is within {near:g} of chance before any "
            f"masking ({name} {start:+.3g} over the constant predictor)"
        )
    masked = float(claim.masked_fraction or 0.0) * length
    gaps = [
        value_at(r.ablation["n_masked"], r.ablation["high_to_low"], masked) - c
        for r, c in zip(runs, chance, strict=True)
    ]
    mean, lo, hi = mean_ci(gaps)
    return Measure(
        mean,
        lo,
        hi,
        0.0,
        f"{target.where}: '{target.label}', {name} with {claim.masked_fraction:.0%} of the "
        f"positions masked (highest importance first) minus the constant predictor's {name}, "
        f"{len(runs)} seeds, t interval over seeds",
        n_examples=curve_examples(runs),
    )


@measurement("ablation_drop", keep=has_curves)
def ablation_drop(claim: ClaimSpec, target: Target, options: Options) -> Measure:
    """Fall of the high_to_low curve from 0 to ``masked`` positions (interpolated), times
    ``scale``."""
    runs = target.runs
    name = curve_metric_name(target.task)
    drops = [
        claim.scale
        * (
            value_at(r.ablation["n_masked"], r.ablation["high_to_low"], 0)
            - value_at(r.ablation["n_masked"], r.ablation["high_to_low"], claim.masked or 0)
        )
        for r in runs
    ]
    mean, lo, hi = mean_ci(drops)
    unit = f" in {claim.unit}" if claim.unit else ""
    return Measure(
        mean,
        lo,
        hi,
        basis=f"{target.where}: '{target.label}', high_to_low {name} drop{unit} at "
        f"{claim.masked} masked positions (interpolated between curve points), {len(runs)} "
        "seeds, t interval over seeds",
        n_examples=curve_examples(runs),
    )
