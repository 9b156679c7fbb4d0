"""Is a model really different from the reference? Paired tests over seeds and test examples.

Every model of a study is compared with the study's ``reference`` model on the same dataset:

- over seeds (the unit the study replicates): paired t-test, Wilcoxon signed-rank and the 95% t
  interval of the mean difference;
- over test examples, per seed (the same test split for both models): exact McNemar on correct /
  incorrect (accuracy), DeLong for AUROC, paired bootstrap otherwise; the per-seed p-values are
  combined as their maximum (an intersection-union test: "different in every seed"), which stays
  valid although the seeds' test splits overlap;
- over seeds and test examples together (the estimand averages over both): one example resample
  per replicate shared by every seed and both models, combined with the seed jackknife
  (:func:`~harness.analysis.intervals.two_level_se`), for the difference, its p-value, the
  smallest difference the design detects (``mdd``) and the "retention" ratio;
- Holm (default) or Benjamini-Hochberg correction across every comparison of the study.

Everything here is a pure function of arrays or :class:`~harness.results.RunResult` lists. The
pieces live in :mod:`~harness.analysis.intervals`, :mod:`~harness.analysis.seed_tests`,
:mod:`~harness.analysis.example_tests`, :mod:`~harness.analysis.bootstrap`,
:mod:`~harness.analysis.multiple_testing` and :mod:`~harness.analysis.pairing`; this module
holds the study-level tables (summary_table, compare, retention_summary).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from harness.analysis.bootstrap import (
    BOOTSTRAP_METRICS,
    SeedBootstrap,
    example_resamples,
    hierarchical_bootstrap,
    on_resamples,
)
from harness.analysis.example_tests import delong_test, mcnemar_test, predicted_labels
from harness.analysis.intervals import (
    UNBOUNDED,
    bounded_interval,
    detectable_difference,
    difference_bounds,
    mean_ci,
    metric_bounds,
    two_level_se,
)
from harness.analysis.multiple_testing import CORRECTIONS, adjust_pvalues
from harness.analysis.pairing import (
    align_runs,
    common_ids,
    decision_scores,
    higher_is_better,
    retention_ratio,
)
from harness.analysis.seed_tests import paired_seed_tests
from harness.core.errors import UserError
from harness.core.metrics import TASK_METRICS
from harness.core.results import RunResult


def _beats_constant(ref_mean: float, const_mean: float, metric: str) -> bool:
    if not np.isfinite(const_mean):
        return True  # no constant predictor to compare with
    return ref_mean > const_mean if higher_is_better(metric) else ref_mean < const_mean


def _example_test(task: str, metric: str, pairs, boot_p: Sequence[float]) -> tuple[str, list]:
    """Name of the per-seed example-level test and its per-seed p-values."""
    if metric == "accuracy" and task in ("binary", "multiclass"):
        return "mcnemar", [
            mcnemar_test(y, predicted_labels(task, a), predicted_labels(task, b))["pvalue"]
            for y, a, b in pairs
        ]
    if metric == "auroc" and task == "binary":
        return "delong", [delong_test(y, a, b)["pvalue"] for y, a, b in pairs]
    return "bootstrap", list(boot_p)


def _by(results: Sequence[RunResult], *keys: str) -> dict[tuple, list[RunResult]]:
    out: dict[tuple, list[RunResult]] = {}
    for r in results:
        out.setdefault(tuple(getattr(r, k) for k in keys), []).append(r)
    return out


def _metrics_of(task: str, runs: Sequence[RunResult]) -> list[str]:
    present = set.intersection(*(set(r.metrics) for r in runs)) if runs else set()
    return [m for m in TASK_METRICS.get(task, ()) if m in present]


def summary_table(
    results: Sequence[RunResult], metrics: Sequence[str] | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean and t interval over seeds of each test metric, per dataset and model.

    Parameters
    ----------
    results : every run of the study
    metrics : which metrics; default every metric the runs report, primary ones first

    Returns
    -------
    DataFrame with columns dataset, task, model, model_name, metric, primary, mean, ci_lo, ci_hi,
    sd, n_seeds, baseline_mean (the constant predictor on the same test splits), in the order
    datasets and models first appear.
    """
    rows = []
    for (dataset, model), runs in _by(results, "dataset", "model").items():
        task = runs[0].task
        primary = TASK_METRICS.get(task, ())
        names = (
            list(metrics)
            if metrics is not None
            else (
                [m for m in primary if any(m in r.metrics for r in runs)]
                + sorted({m for r in runs for m in r.metrics} - set(primary))
            )
        )
        for metric in names:
            values = [r.metrics.get(metric, np.nan) for r in runs]
            base = [r.baseline_metrics.get(metric, np.nan) for r in runs]
            mean, lo, hi = mean_ci(values, confidence, metric_bounds(metric))
            finite = np.asarray(values, dtype=np.float64)
            finite = finite[np.isfinite(finite)]
            rows.append(
                {
                    "dataset": dataset,
                    "task": task,
                    "model": model,
                    "model_name": runs[0].model_name,
                    "metric": metric,
                    "primary": metric in primary,
                    "mean": mean,
                    "ci_lo": lo,
                    "ci_hi": hi,
                    "sd": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
                    "n_seeds": int(finite.size),
                    "baseline_mean": mean_ci(base)[0],
                }
            )
    columns = [
        "dataset",
        "task",
        "model",
        "model_name",
        "metric",
        "primary",
        "mean",
        "ci_lo",
        "ci_hi",
        "sd",
        "n_seeds",
        "baseline_mean",
    ]
    return pd.DataFrame(rows, columns=columns)


COMPARE_COLUMNS = [
    "dataset",
    "task",
    "model",
    "reference",
    "metric",
    "higher_is_better",
    "n_seeds",
    "n_test",
    "model_mean",
    "ref_mean",
    "const_mean",
    "diff",
    "diff_ci_lo",
    "diff_ci_hi",
    "t_p",
    "wilcoxon_p",
    "example_test",
    "example_p",
    "example_p_seeds",
    "boot_diff_lo",
    "boot_diff_hi",
    "boot_p",
    "mdd",
    "retention",
    "retention_lo",
    "retention_hi",
    "const_retention",
    "t_p_adj",
    "wilcoxon_p_adj",
    "example_p_adj",
    "boot_p_adj",
    "significant",
]


def compare(
    results: Sequence[RunResult],
    reference: str,
    correction: str = "holm",
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Every model against ``reference`` on every dataset, for each primary metric.

    Parameters
    ----------
    results : every run of the study (pairs are matched on dataset and seed, examples on ids)
    reference : model label (``RunResult.model``) the others are compared with
    correction : "holm" | "bh" | "bonferroni", applied to each p-value column across all rows
    n_boot : bootstrap resamples; seed : seeds the resampling

    Returns
    -------
    DataFrame, one row per dataset x model x metric, columns :data:`COMPARE_COLUMNS`:
    ``diff`` = mean over seeds of (model - reference) with its t interval; ``t_p``, ``wilcoxon_p``
    over seeds; ``example_test`` (mcnemar / delong / bootstrap) with ``example_p`` = the largest
    per-seed p-value (listed in ``example_p_seeds``); ``boot_diff_lo``, ``boot_diff_hi``,
    ``boot_p``, ``mdd`` (smallest difference detected at level 0.05 with power 0.8) and
    ``retention*`` over seeds and test examples (:func:`_two_level`; retention NaN where the
    reference is no better than the constant predictor on that metric); ``const_retention`` =
    the constant predictor's retention;
    ``*_adj`` corrected p-values; ``significant`` = ``example_p_adj < alpha``.

    Raises
    ------
    UserError : when no run of ``reference`` exists.
    """
    if not any(r.model == reference for r in results):
        models = sorted({r.model for r in results})
        raise UserError(
            f"reference model {reference!r} is not among the results "
            f"(models: {', '.join(models) or 'none'})"
        )
    if correction not in CORRECTIONS:
        raise UserError(f"unknown correction {correction!r} (valid: holm, bh, bonferroni)")
    by_cell = {(r.dataset, r.model, r.seed): r for r in results}
    datasets = list(dict.fromkeys(r.dataset for r in results))
    rows: list[dict] = []
    for dataset in datasets:
        refs = {r.seed: r for r in results if r.dataset == dataset and r.model == reference}
        if not refs:
            continue
        # one resample of the reference's test examples per replicate, seeded by the dataset
        # name, so that every seed, every model and a later call on a subset of the results
        # (retention_summary) see the same resamples
        resamples = example_resamples(
            [r.ids for r in refs.values()],
            n_boot,
            np.random.default_rng([seed, zlib.crc32(dataset.encode())]),
        )
        models = dict.fromkeys(r.model for r in results if r.dataset == dataset)
        for model in models:
            if model == reference:
                continue
            seeds = sorted(s for s in refs if (dataset, model, s) in by_cell)
            if not seeds:
                continue
            runs = [by_cell[(dataset, model, s)] for s in seeds]
            ref_runs = [refs[s] for s in seeds]
            task = runs[0].task
            pairs = [align_runs(m, r) for m, r in zip(runs, ref_runs, strict=True)]
            weights = [
                resamples.weights(common_ids(m, r)) for m, r in zip(runs, ref_runs, strict=True)
            ]
            for metric in _metrics_of(task, runs + ref_runs):
                rows.append(
                    _compare_one(
                        dataset,
                        task,
                        model,
                        reference,
                        metric,
                        runs,
                        ref_runs,
                        pairs,
                        weights,
                        confidence,
                    )
                )
    frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    for col in ("t_p", "wilcoxon_p", "example_p", "boot_p"):
        frame[f"{col}_adj"] = adjust_pvalues(frame[col].to_numpy(dtype=float), correction)
    frame["significant"] = frame["example_p_adj"] < alpha
    return frame


def _compare_one(
    dataset, task, model, reference, metric, runs, ref_runs, pairs, weights, confidence
) -> dict:
    a = [r.metrics.get(metric, np.nan) for r in runs]
    b = [r.metrics.get(metric, np.nan) for r in ref_runs]
    const = mean_ci([r.baseline_metrics.get(metric, np.nan) for r in runs])[0]
    seed_tests = paired_seed_tests(a, b, confidence, metric_bounds(metric))
    model_mean, ref_mean = mean_ci(a)[0], mean_ci(b)[0]
    row = {
        "dataset": dataset,
        "task": task,
        "model": model,
        "reference": reference,
        "metric": metric,
        "higher_is_better": higher_is_better(metric),
        "n_seeds": len(runs),
        "n_test": int(np.mean([len(p[0]) for p in pairs])),
        "model_mean": model_mean,
        "ref_mean": ref_mean,
        "const_mean": const,
        "diff": seed_tests["diff"],
        "diff_ci_lo": seed_tests["diff_ci_lo"],
        "diff_ci_hi": seed_tests["diff_ci_hi"],
        "t_p": seed_tests["t_p"],
        "wilcoxon_p": seed_tests["wilcoxon_p"],
        "retention": float(retention_ratio(model_mean, ref_mean, metric)),
        "const_retention": float(retention_ratio(const, ref_mean, metric)),
    }
    boot_p: list[float] = [np.nan] * len(pairs)
    if metric in BOOTSTRAP_METRICS.get(task, ()):
        bp = hierarchical_bootstrap(pairs, task, metric, weights)
        boot_p = list(bp.per_seed_p)
        row.update(_two_level(bp, metric, confidence))
    if not _beats_constant(ref_mean, const, metric):
        # a share of a reference that does no better than the constant predictor means nothing
        row["retention"] = row["retention_lo"] = row["retention_hi"] = np.nan
    name, per_seed = _example_test(task, metric, pairs, boot_p)
    finite = [p for p in per_seed if np.isfinite(p)]
    row["example_test"] = name
    row["example_p"] = float(max(finite)) if finite else float("nan")
    row["example_p_seeds"] = ";".join(f"{p:.3g}" for p in per_seed)
    return row


def _two_level(bp: SeedBootstrap, metric: str, confidence: float) -> dict[str, float]:
    """Difference and retention over seeds and test examples, from per-seed resampled metrics.

    The difference's interval is kept within the range of a difference of the metric, the
    retention's within (0, inf) (a log-ratio interval) when both means are positive; ``boot_p``
    is the two-sided t test of the difference with the two-level standard error.
    """
    keep = np.isfinite(bp.point).all(axis=1)  # a seed where the metric is undefined says nothing
    if keep.sum() < 2:
        return {}  # one seed cannot tell its own variability: no interval, as mean_ci
    point, boot = bp.point[keep], bp.boot[:, keep]
    diff = two_level_se(point, boot, lambda m: m[..., 0] - m[..., 1])
    est, se, df = float(diff.estimate), float(diff.se), float(diff.df)
    bounds = difference_bounds(metric_bounds(metric))
    lo, hi = (float(v) for v in bounded_interval(est, se, df, bounds, confidence))
    if se > 0:
        pvalue = float(2 * stats.t.sf(abs(est) / se, df))
    else:
        pvalue = float("nan") if np.isnan(se) else float(est == 0)
    out = {"boot_diff_lo": lo, "boot_diff_hi": hi, "boot_p": pvalue}
    out["mdd"] = float(detectable_difference(se, df))
    ratio = two_level_se(point, boot, lambda m: retention_ratio(m[..., 0], m[..., 1], metric))
    positive = bool(np.all(point.mean(axis=0) > 0))
    ratio_bounds = (0.0, np.inf) if positive else UNBOUNDED
    ci = bounded_interval(ratio.estimate, ratio.se, ratio.df, ratio_bounds, confidence)
    # the point the interval is centred on (the seeds kept, the examples both runs scored), so
    # the printed retention never falls outside its own interval
    out["retention"] = float(ratio.estimate)
    out["retention_lo"], out["retention_hi"] = (float(v) for v in ci)
    return out


def pair_summary(
    results: Sequence[RunResult],
    dataset: str,
    model: str,
    reference: str,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """One row of :func:`compare`: ``model`` against ``reference`` on one dataset and metric.

    Returns
    -------
    dict of :data:`COMPARE_COLUMNS` (``retention`` and its CI, ``diff`` with the t interval over
    seeds, ``boot_diff_lo``/``boot_diff_hi`` over seeds and test examples, ...); empty when the
    pair shares no seed or the metric was not compared.
    """
    frame = compare(
        [r for r in results if r.dataset == dataset and r.model in (model, reference)],
        reference,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )
    hit = frame[(frame["model"] == model) & (frame["metric"] == metric)]
    return {} if hit.empty else hit.iloc[0].to_dict()


def retention_summary(
    results: Sequence[RunResult],
    dataset: str,
    model: str,
    reference: str,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Retention of ``model`` relative to ``reference`` on one dataset, with its two-level CI.

    Returns
    -------
    dict with ``retention``, ``lo``, ``hi``, ``const_retention``, ``model_mean``, ``ref_mean``,
    ``const_mean``, ``n_seeds``; NaNs when the pair has no common seed.
    """
    row = pair_summary(results, dataset, model, reference, metric, n_boot, seed, confidence)
    keys = {
        "retention": "retention",
        "lo": "retention_lo",
        "hi": "retention_hi",
        "const_retention": "const_retention",
        "model_mean": "model_mean",
        "ref_mean": "ref_mean",
        "const_mean": "const_mean",
    }
    out = {k: float(row.get(v, np.nan)) for k, v in keys.items()}
    return {**out, "n_seeds": int(row.get("n_seeds", 0))}


def metric_summary(
    runs: Sequence[RunResult], metric: str, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean over seeds of one model's test ``metric`` with a two-level interval (seeds and test
    examples, one example resample shared by every seed), kept within the metric's bounds.

    Seeds score the same test examples, so a t interval over seeds alone leaves out the
    test-set sampling error; this one does not.

    Returns
    -------
    (mean, lo, hi); the interval is NaN with fewer than two seeds or when ``metric`` has no
    bootstrap version for the task (see :data:`BOOTSTRAP_METRICS`).
    """
    runs = [r for r in runs if np.isfinite(r.metrics.get(metric, np.nan))]
    mean = float(np.mean([r.metrics[metric] for r in runs])) if runs else float("nan")
    if len(runs) < 2 or metric not in BOOTSTRAP_METRICS.get(runs[0].task, ()):
        return mean, float("nan"), float("nan")
    resamples = example_resamples([r.ids for r in runs], n_boot, np.random.default_rng([seed, 31]))
    per_seed = np.column_stack(  # (B + 1, S): row 0 the test set itself
        [
            on_resamples(
                r.task, metric, np.asarray(r.y_true), decision_scores(r), resamples.weights(r.ids)
            )
            for r in runs
        ]
    )
    point, boot = per_seed[0][:, None], per_seed[1:][..., None]  # (S, 1), (B, S, 1)
    level = two_level_se(point, boot, lambda m: m[..., 0])
    lo, hi = bounded_interval(level.estimate, level.se, level.df, metric_bounds(metric))
    return mean, float(lo), float(hi)
