"""Is a model really different from the reference? Paired tests over seeds and test examples.

Every model of a study is compared with the study's ``reference`` model on the same dataset:

- over seeds (the unit the study replicates): paired t-test, Wilcoxon signed-rank and the 95% t
  interval of the mean difference;
- over test examples, per seed (the same test split for both models): exact McNemar on correct /
  incorrect (accuracy), DeLong for AUROC, paired bootstrap otherwise; the per-seed p-values are
  combined as their maximum (an intersection-union test: "different in every seed"), which stays
  valid although the seeds' test splits overlap;
- a two-level paired bootstrap (seeds, then test examples within each seed, the same resample for
  both models) for the difference, the "retention" ratio and their percentile intervals;
- Holm (default) or Benjamini-Hochberg correction across every comparison of the study.

Everything here is a pure function of arrays or :class:`~harness.results.RunResult` lists.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from harness.core.errors import UserError
from harness.core.metrics import LOWER_IS_BETTER
from harness.core.results import RunResult

PRIMARY_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auroc", "accuracy", "mcc"),
    "regression": ("pearson", "r2", "mse"),
    "multiclass": ("accuracy", "f1", "mcc"),
}
# Metrics the vectorised bootstrap can recompute on resampled test sets.
BOOTSTRAP_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset({"accuracy", "auroc", "f1", "mcc"}),
    "regression": frozenset({"mse", "mae", "pearson", "r2"}),
    "multiclass": frozenset({"accuracy", "f1", "mcc"}),
}
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh", "bonferroni": "bonferroni"}
_CHUNK = 256  # bootstrap rows processed at once: bounds memory at 256 x n_test floats


# ----------------------------------------------------------------------------------- over seeds
def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, ...]:
    """Mean and two-sided t interval of ``values`` (e.g. one metric over seeds).

    Parameters
    ----------
    values : (n,) floats; NaNs are dropped.
    confidence : coverage of the interval.

    Returns
    -------
    (mean, lo, hi). With no finite value all three are NaN; with one value the interval is
    ``(nan, nan)``; with zero spread it collapses to the mean.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    mean = float(v.mean())
    if v.size == 1:
        return mean, float("nan"), float("nan")
    sem = float(stats.sem(v))
    if sem == 0:
        return mean, mean, mean
    lo, hi = stats.t.interval(confidence, v.size - 1, loc=mean, scale=sem)
    return mean, float(lo), float(hi)


def paired_seed_tests(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> dict[str, float]:
    """Paired tests of ``a - b`` over seeds.

    Parameters
    ----------
    a, b : (n_seeds,) the metric of the model and of the reference at the same seeds; pairs with a
        NaN are dropped.

    Returns
    -------
    dict with ``n``, ``diff`` (mean of a - b), ``diff_ci_lo``, ``diff_ci_hi`` (t interval),
    ``t_p`` (paired t-test) and ``wilcoxon_p`` (Wilcoxon signed-rank; exact for small n, so with
    fewer than 6 seeds it cannot go below 0.05).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    diff, lo, hi = mean_ci(d, confidence)
    out = {
        "n": int(d.size),
        "diff": diff,
        "diff_ci_lo": lo,
        "diff_ci_hi": hi,
        "t_p": float("nan"),
        "wilcoxon_p": float("nan"),
    }
    if d.size < 2:
        return out
    if np.all(d == 0):
        out["t_p"] = out["wilcoxon_p"] = 1.0
        return out
    with warnings.catch_warnings():
        # a constant non-zero difference gives t = inf (p = 0), which is the right answer
        warnings.simplefilter("ignore", RuntimeWarning)
        out["t_p"] = float(stats.ttest_rel(a[keep], b[keep]).pvalue)
        out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    return out


# ----------------------------------------------------------------------- over test examples
def predicted_labels(task: str, y_score: np.ndarray) -> np.ndarray:
    """Hard predictions: P(class 1) >= 0.5 (binary) or the arg-max class (multiclass)."""
    y_score = np.asarray(y_score)
    if task == "multiclass" or y_score.ndim == 2:
        return y_score.argmax(axis=1)
    return (y_score >= 0.5).astype(int)


def mcnemar_test(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, float]:
    """Exact McNemar test on which examples each model gets right.

    Parameters
    ----------
    y_true, pred_a, pred_b : (n,) class labels.

    Returns
    -------
    dict with ``b`` (only model a right), ``c`` (only model b right), ``statistic`` (min(b, c))
    and ``pvalue`` (exact binomial; 1.0 when the models never disagree on correctness).
    """
    right_a = np.asarray(pred_a) == np.asarray(y_true)
    right_b = np.asarray(pred_b) == np.asarray(y_true)
    table = np.array(
        [
            [np.sum(right_a & right_b), np.sum(right_a & ~right_b)],
            [np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)],
        ]
    )
    b, c = int(table[0, 1]), int(table[1, 0])
    if b + c == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "pvalue": 1.0}
    res = mcnemar(table, exact=True)
    return {"b": b, "c": c, "statistic": float(res.statistic), "pvalue": float(res.pvalue)}


def _structural_components(y_true: np.ndarray, scores: np.ndarray):
    """DeLong's placement values for k score vectors (Sun & Xu 2014, fast DeLong).

    Parameters
    ----------
    y_true : (n,) 0/1 ; scores : (k, n)

    Returns
    -------
    aucs (k,), v10 (k, m) for the m positives, v01 (k, r) for the r negatives
    """
    pos = np.asarray(y_true) == 1
    x, y = scores[:, pos], scores[:, ~pos]
    m, r = x.shape[1], y.shape[1]
    # Mid-ranks handle ties exactly as the Mann-Whitney statistic (a tie counts one half).
    tx = stats.rankdata(x, axis=1)
    ty = stats.rankdata(y, axis=1)
    tz = stats.rankdata(np.concatenate([x, y], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / r
    v10 = (tz[:, :m] - tx) / r  # per positive: fraction of negatives scored below it
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: fraction of positives scored above it
    return aucs, v10, v01


def delong_test(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> dict[str, float]:
    """DeLong test of the difference between two correlated AUROCs (same examples).

    Parameters
    ----------
    y_true : (n,) 0/1 labels ; score_a, score_b : (n,) scores, higher = class 1.

    Returns
    -------
    dict with ``auc_a``, ``auc_b``, ``diff`` (a - b), ``se`` (of the difference), ``z``,
    ``pvalue`` (two-sided, normal), ``ci_lo``, ``ci_hi`` (95% normal interval of the difference).
    All NaN when ``y_true`` has a single class.
    """
    y_true = np.asarray(y_true).astype(int)
    nan = float("nan")
    n_pos = int(y_true.sum())
    if n_pos == 0 or n_pos == len(y_true):
        return dict.fromkeys(("auc_a", "auc_b", "diff", "se", "z", "pvalue", "ci_lo", "ci_hi"), nan)
    scores = np.vstack([score_a, score_b]).astype(np.float64)
    aucs, v10, v01 = _structural_components(y_true, scores)
    m, r = v10.shape[1], v01.shape[1]
    # Covariance of the two AUC estimates: S10/m + S01/r (DeLong et al. 1988, eq. 6).
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((2, 2))
    s01 = np.atleast_2d(np.cov(v01)) if r > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / r
    contrast = np.array([1.0, -1.0])
    var = float(contrast @ cov @ contrast)
    diff = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0:
        z, p = (0.0, 1.0) if diff == 0 else (float(np.sign(diff) * np.inf), 0.0)
    else:
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    half = 1.959963984540054 * se
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "diff": diff,
        "se": se,
        "z": z,
        "pvalue": p,
        "ci_lo": diff - half,
        "ci_hi": diff + half,
    }


# ------------------------------------------------------------- weighted (bootstrap) metrics
def bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n`` examples is drawn in each of ``n_boot`` resamples: (n_boot, n).

    Stored as small integers (uint16 while ``n`` fits): a 1000 x 10,000 matrix is 20 MB instead of
    80 MB; :func:`weighted_metric` converts one chunk at a time.
    """
    draws = rng.integers(0, n, size=(n_boot, n))
    # one bincount over row-offset indices counts every row at once (multinomial is ~10x slower)
    flat = (draws + np.arange(n_boot)[:, None] * n).ravel()
    counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n)
    return counts.astype(np.uint16 if n < 2**16 else np.uint32)


def _confusion(task: str, y_true: np.ndarray, y_score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted confusion matrices (B, K, K), rows = true class, columns = predicted."""
    y = np.asarray(y_true).astype(int)
    pred = predicted_labels(task, y_score)
    k = 2 if task == "binary" else int(max(np.shape(y_score)[1], y.max(initial=0) + 1))
    cell = np.zeros((len(y), k * k))
    cell[np.arange(len(y)), y * k + pred] = 1.0
    return (w @ cell).reshape(len(w), k, k)


def _mcc(conf: np.ndarray) -> np.ndarray:
    # Gorodkin's K-class MCC; equals the binary MCC for K = 2; 0 when undefined (as sklearn).
    s = conf.sum(axis=(1, 2))
    c = np.trace(conf, axis1=1, axis2=2)
    t = conf.sum(axis=2)
    p = conf.sum(axis=1)
    num = c * s - (t * p).sum(axis=1)
    den = np.sqrt((s**2 - (p**2).sum(axis=1)) * (s**2 - (t**2).sum(axis=1)))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _f1(conf: np.ndarray, task: str) -> np.ndarray:
    tp = np.diagonal(conf, axis1=1, axis2=2)
    fp = conf.sum(axis=1) - tp
    fn = conf.sum(axis=2) - tp
    den = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    return f1[:, 1] if task == "binary" else f1.mean(axis=1)


def _weighted_auroc(y_true: np.ndarray, y_score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUROC with example weights ``w`` (B, n); ties count one half."""
    order = np.argsort(y_score, kind="stable")
    s = np.asarray(y_score, dtype=np.float64)[order]
    pos = np.asarray(y_true)[order] == 1
    ws = w[:, order]
    wp = np.where(pos, ws, 0.0)  # positive weight per sorted example
    wn = ws - wp
    # Sum within groups of tied scores (a no-op when all scores differ).
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    if len(starts) < len(s):
        wp, wn = np.add.reduceat(wp, starts, axis=1), np.add.reduceat(wn, starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn  # negative weight strictly below each group
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    return np.divide(num, den, out=np.full(len(w), np.nan), where=den > 0)


def weighted_metric(
    task: str, metric: str, y_true: np.ndarray, y_score: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """``metric`` of ``y_score`` on test sets re-weighted by bootstrap counts.

    Parameters
    ----------
    task : "binary" | "multiclass" | "regression"
    metric : one of :data:`BOOTSTRAP_METRICS` for the task
    y_true : (n,) ; y_score : (n,) or (n, C)
    w : (B, n) non-negative example weights (bootstrap counts); a row of ones gives the plain
        metric, equal to :func:`harness.core.metrics.compute_metrics`.

    Returns
    -------
    (B,) the metric for each row of ``w``
    """
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    if metric not in BOOTSTRAP_METRICS.get(task, ()):
        raise ValueError(f"no bootstrap version of {metric!r} for task {task!r}")
    if task != "regression":
        if metric == "auroc":
            return _weighted_auroc(y_true, y_score, w)
        conf = _confusion(task, y_true, y_score, w)
        if metric == "accuracy":
            return np.trace(conf, axis1=1, axis2=2) / conf.sum(axis=(1, 2))
        return _mcc(conf) if metric == "mcc" else _f1(conf, task)
    y = np.asarray(y_true, dtype=np.float64)
    f = np.asarray(y_score, dtype=np.float64)
    total = w.sum(axis=1)
    if metric == "mse":
        return (w @ (y - f) ** 2) / total
    if metric == "mae":
        return (w @ np.abs(y - f)) / total
    sse = (w @ (y - f) ** 2) / total
    # Centre first so the one-pass moment formulas do not lose precision.
    y, f = y - y.mean(), f - f.mean()
    my, mf = (w @ y) / total, (w @ f) / total
    vy = (w @ y**2) / total - my**2
    if metric == "r2":
        return np.divide(vy - sse, vy, out=np.zeros_like(vy), where=vy > 1e-15)
    vf = (w @ f**2) / total - mf**2
    cov = (w @ (y * f)) / total - my * mf
    den = np.sqrt(np.clip(vy, 0, None) * np.clip(vf, 0, None))
    # A constant prediction has no correlation: 0, as in harness.metrics.
    return np.divide(cov, den, out=np.zeros_like(cov), where=den > 1e-12)


def _chunked(task, metric, y, score, w) -> np.ndarray:
    return np.concatenate(
        [
            weighted_metric(task, metric, y, score, w[i : i + _CHUNK])
            for i in range(0, len(w), _CHUNK)
        ]
    )


def bootstrap_p(diffs: np.ndarray) -> float:
    """Two-sided bootstrap p-value that the difference is 0, from resampled differences (B,)."""
    d = np.asarray(diffs, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    tail = min(np.sum(d <= 0), np.sum(d >= 0))
    return float(min(1.0, 2 * (tail + 1) / (d.size + 1)))


def paired_bootstrap(
    task: str,
    metric: str,
    y_true: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap of ``metric(a) - metric(b)`` on one test set (same resamples for both).

    Parameters
    ----------
    y_true : (n,) ; score_a, score_b : (n,) or (n, C) scores of two models on the same examples.

    Returns
    -------
    dict with ``diff`` (point estimate), ``ci_lo``, ``ci_hi`` (percentile), ``se`` (SD of the
    resampled differences) and ``pvalue`` (two-sided, :func:`bootstrap_p`).
    """
    w = bootstrap_weights(len(y_true), n_boot, np.random.default_rng(seed))
    ones = np.ones((1, len(y_true)))
    diff = float(
        weighted_metric(task, metric, y_true, score_a, ones)[0]
        - weighted_metric(task, metric, y_true, score_b, ones)[0]
    )
    d = _chunked(task, metric, y_true, score_a, w) - _chunked(task, metric, y_true, score_b, w)
    alpha = (1 - confidence) / 2
    lo, hi = np.nanquantile(d, [alpha, 1 - alpha])
    return {
        "diff": diff,
        "ci_lo": float(lo),
        "ci_hi": float(hi),
        "se": float(np.nanstd(d)),
        "pvalue": bootstrap_p(d),
    }


# ------------------------------------------------------------------ multiple comparisons
def adjust_pvalues(pvalues: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Family-wise (Holm, Bonferroni) or false-discovery (``"bh"``) adjusted p-values.

    Parameters
    ----------
    pvalues : (m,) raw p-values; NaNs stay NaN and are not counted in the family.
    method : "holm" | "bh" (Benjamini-Hochberg) | "bonferroni"
    """
    if method not in CORRECTIONS:
        raise UserError(f"unknown correction {method!r} (valid: holm, bh, bonferroni)")
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=CORRECTIONS[method])[1]
    return out


# ------------------------------------------------------------------- pairing runs
def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def align_runs(a: RunResult, b: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test examples both runs scored, in ``a``'s order: ``(y_true (n,), score_a, score_b)``."""
    if len(a.ids) == len(b.ids) and np.array_equal(a.ids, b.ids):
        return np.asarray(a.y_true), np.asarray(a.y_score), np.asarray(b.y_score)
    pos_b = {str(k): i for i, k in enumerate(b.ids)}
    ia = np.array([i for i, k in enumerate(a.ids) if str(k) in pos_b], dtype=int)
    ib = np.array([pos_b[str(a.ids[i])] for i in ia], dtype=int)
    return np.asarray(a.y_true)[ia], np.asarray(a.y_score)[ia], np.asarray(b.y_score)[ib]


@dataclass(frozen=True)
class BootstrapPair:
    """Two-level bootstrap of a metric for a model and the reference, averaged over seeds.

    ``model`` and ``reference`` are (B,) seed-averaged metrics on the same resamples;
    ``per_seed_p`` are the one-level (examples only) bootstrap p-values of each seed.
    """

    model: np.ndarray
    reference: np.ndarray
    per_seed_p: tuple[float, ...]


def hierarchical_bootstrap(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    task: str,
    metric: str,
    weights: Sequence[np.ndarray],
    rng: np.random.Generator,
) -> BootstrapPair:
    """Resample seeds, then test examples within each seed (paired between the two models).

    Parameters
    ----------
    pairs : per seed ``(y_true (n_s,), score_model, score_reference)``
    weights : per seed (B, n_s) bootstrap counts (shared across models so that every model is
        judged on the same resamples)
    rng : draws which seeds enter each resample
    """
    per_model, per_ref, per_p = [], [], []
    for (y, sm, sr), w in zip(pairs, weights, strict=True):
        mm, mr = _chunked(task, metric, y, sm, w), _chunked(task, metric, y, sr, w)
        per_model.append(mm)
        per_ref.append(mr)
        per_p.append(bootstrap_p(mm - mr))
    n_seeds, n_boot = len(pairs), len(weights[0])
    picks = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot) / n_seeds
    return BootstrapPair(_pick_mean(picks, per_model), _pick_mean(picks, per_ref), tuple(per_p))


def _pick_mean(picks: np.ndarray, per_seed: list[np.ndarray]) -> np.ndarray:
    # Mean over the drawn seeds, skipping a seed whose resample left the metric undefined
    # (e.g. AUROC of a resample with one class) instead of counting it as 0.
    values = np.column_stack(per_seed)
    ok = np.isfinite(values)
    weight = np.where(ok, picks, 0.0)
    total = weight.sum(axis=1)
    num = (weight * np.where(ok, values, 0.0)).sum(axis=1)
    return np.divide(num, total, out=np.full(len(total), np.nan), where=total > 0)


def retention_ratio(
    model: np.ndarray | float, reference: np.ndarray | float, metric: str
) -> np.ndarray:
    """Fraction of the reference's performance a model keeps: model / reference, or reference /
    model for lower-is-better metrics (MSE), so that 1 means "as good" and < 1 "worse"."""
    model, reference = np.asarray(model, dtype=np.float64), np.asarray(reference, np.float64)
    num, den = (model, reference) if higher_is_better(metric) else (reference, model)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


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


# --------------------------------------------------------------------------- study level
def _by(results: Sequence[RunResult], *keys: str) -> dict[tuple, list[RunResult]]:
    out: dict[tuple, list[RunResult]] = {}
    for r in results:
        out.setdefault(tuple(getattr(r, k) for k in keys), []).append(r)
    return out


def _metrics_of(task: str, runs: Sequence[RunResult]) -> list[str]:
    present = set.intersection(*(set(r.metrics) for r in runs)) if runs else set()
    return [m for m in PRIMARY_METRICS.get(task, ()) if m in present]


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
        primary = PRIMARY_METRICS.get(task, ())
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
            mean, lo, hi = mean_ci(values, confidence)
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
    per-seed p-value (listed in ``example_p_seeds``); ``boot_*`` and ``retention*`` from the
    two-level paired bootstrap (NaN where the reference is no better than the constant
    predictor on that metric); ``const_retention`` = the constant predictor's retention;
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
        weight_cache: dict[tuple[int, int], np.ndarray] = {}
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
            weights = []
            for s, (y, _, _) in zip(seeds, pairs, strict=True):
                key = (s, len(y))
                if key not in weight_cache:
                    # seeded by dataset name and seed rank, so that every model, and a later
                    # call on a subset of the results, sees the same resamples
                    entropy = [seed, zlib.crc32(dataset.encode()), sorted(refs).index(s), len(y)]
                    weight_cache[key] = bootstrap_weights(
                        len(y), n_boot, np.random.default_rng(entropy)
                    )
                weights.append(weight_cache[key])
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
                        seed,
                        confidence,
                    )
                )
    frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    for col in ("t_p", "wilcoxon_p", "example_p", "boot_p"):
        frame[f"{col}_adj"] = adjust_pvalues(frame[col].to_numpy(dtype=float), correction)
    frame["significant"] = frame["example_p_adj"] < alpha
    return frame


def _compare_one(
    dataset, task, model, reference, metric, runs, ref_runs, pairs, weights, seed, confidence
) -> dict:
    a = [r.metrics.get(metric, np.nan) for r in runs]
    b = [r.metrics.get(metric, np.nan) for r in ref_runs]
    const = mean_ci([r.baseline_metrics.get(metric, np.nan) for r in runs])[0]
    seed_tests = paired_seed_tests(a, b, confidence)
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
        rng = np.random.default_rng([seed, 7919])
        bp = hierarchical_bootstrap(pairs, task, metric, weights, rng)
        boot_p = list(bp.per_seed_p)
        alpha = (1 - confidence) / 2
        diffs = bp.model - bp.reference
        ratio = retention_ratio(bp.model, bp.reference, metric)
        ratio = ratio[np.isfinite(ratio)]
        row["boot_diff_lo"], row["boot_diff_hi"] = np.nanquantile(diffs, [alpha, 1 - alpha])
        row["boot_p"] = bootstrap_p(diffs)
        if ratio.size:
            row["retention_lo"], row["retention_hi"] = np.quantile(ratio, [alpha, 1 - alpha])
    if not _beats_constant(ref_mean, const, metric):
        # a share of a reference that does no better than the constant predictor means nothing
        row["retention"] = row["retention_lo"] = row["retention_hi"] = np.nan
    name, per_seed = _example_test(task, metric, pairs, boot_p)
    finite = [p for p in per_seed if np.isfinite(p)]
    row["example_test"] = name
    row["example_p"] = float(max(finite)) if finite else float("nan")
    row["example_p_seeds"] = ";".join(f"{p:.3g}" for p in per_seed)
    return row


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
    """Retention of ``model`` relative to ``reference`` on one dataset, with its bootstrap CI.

    Returns
    -------
    dict with ``retention``, ``lo``, ``hi``, ``const_retention``, ``model_mean``, ``ref_mean``,
    ``const_mean``, ``n_seeds``; NaNs when the pair has no common seed.
    """
    frame = compare(
        [r for r in results if r.dataset == dataset and r.model in (model, reference)],
        reference,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )
    hit = frame[(frame["model"] == model) & (frame["metric"] == metric)]
    nan = float("nan")
    if hit.empty:
        return {
            "retention": nan,
            "lo": nan,
            "hi": nan,
            "const_retention": nan,
            "model_mean": nan,
            "ref_mean": nan,
            "const_mean": nan,
            "n_seeds": 0,
        }
    row = hit.iloc[0]
    return {
        "retention": float(row.retention),
        "lo": float(row.retention_lo),
        "hi": float(row.retention_hi),
        "const_retention": float(row.const_retention),
        "model_mean": float(row.model_mean),
        "ref_mean": float(row.ref_mean),
        "const_mean": float(row.const_mean),
        "n_seeds": int(row.n_seeds),
    }
