"""Bootstrap over test examples: metrics on re-weighted test sets and paired bootstraps.

- weighted metrics: a metric recomputed, vectorised, on test sets re-weighted by bootstrap counts;
- the paired bootstrap of a difference on one test set (the same resamples for both models);
- example resamples shared by every seed and model (seeds score the same test examples), and the
  per-seed metrics of a model and the reference on them, from which
  :func:`harness.analysis.intervals.two_level_se` builds intervals over seeds and examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis.example_tests import predicted_labels

# Metrics the vectorised bootstrap can recompute on resampled test sets.
BOOTSTRAP_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset({"accuracy", "auroc", "f1", "mcc"}),
    "regression": frozenset({"mse", "mae", "pearson", "r2"}),
    "multiclass": frozenset({"accuracy", "f1", "mcc"}),
}
_CHUNK = 256  # bootstrap rows processed at once: bounds memory at 256 x n_test floats


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


@dataclass(frozen=True)
class ExampleResamples:
    """Bootstrap counts over the union of the test examples of every seed.

    ``ids`` : (N,) sorted example ids (as str); ``counts`` : (B, N) how often each is drawn.
    Seeds score the same test examples, so one resample per replicate, looked up by id, applies
    to every seed and every model: the test set's own variability then moves all seeds together,
    as it does when a new test set is drawn.
    """

    ids: np.ndarray
    counts: np.ndarray

    def weights(self, ids: np.ndarray) -> np.ndarray:
        """(B, n) counts of the examples ``ids`` (n,), in that order; every id must be known."""
        keys = np.asarray(ids).astype(str)
        pos = np.searchsorted(self.ids, keys)
        if not np.array_equal(self.ids[np.minimum(pos, len(self.ids) - 1)], keys):
            raise ValueError("example ids outside the resampled test examples")
        return self.counts[:, pos]


def example_resamples(
    ids: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator
) -> ExampleResamples:
    """Draw ``n_boot`` resamples of the union of ``ids`` (one (n_s,) id array per seed)."""
    union = np.unique(np.concatenate([np.asarray(i).astype(str) for i in ids]))
    return ExampleResamples(union, bootstrap_weights(len(union), n_boot, rng))


@dataclass(frozen=True)
class SeedBootstrap:
    """A metric of a model and the reference per seed, on the full test set and on resamples.

    ``point`` : (S, 2) model, reference per seed; ``boot`` : (B, S, 2) the same on B example
    resamples shared by every seed and both models (NaN where a resample leaves the metric
    undefined); ``per_seed_p`` : the one-level (examples only) bootstrap p-value of each seed.
    :func:`harness.analysis.intervals.two_level_se` turns them into intervals.
    """

    point: np.ndarray
    boot: np.ndarray
    per_seed_p: tuple[float, ...]


def on_resamples(
    task: str, metric: str, y_true: np.ndarray, y_score: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """``metric`` on the test set itself (row 0) and on each of the (B, n) resamples ``w``:
    (B + 1,)."""
    full = np.vstack([np.ones((1, len(y_true)), dtype=w.dtype), w])
    return _chunked(task, metric, y_true, y_score, full)


def hierarchical_bootstrap(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    task: str,
    metric: str,
    weights: Sequence[np.ndarray],
) -> SeedBootstrap:
    """The metric of a model and the reference per seed on shared example resamples.

    Parameters
    ----------
    pairs : per seed ``(y_true (n_s,), score_model, score_reference)``
    weights : per seed (B, n_s) bootstrap counts, from one :class:`ExampleResamples` so that
        every seed and every model is judged on the same resampled test examples
    """
    point, boot, per_p = [], [], []
    for (y, sm, sr), w in zip(pairs, weights, strict=True):
        mm, mr = on_resamples(task, metric, y, sm, w), on_resamples(task, metric, y, sr, w)
        point.append([mm[0], mr[0]])
        boot.append(np.column_stack([mm[1:], mr[1:]]))
        per_p.append(bootstrap_p(mm[1:] - mr[1:]))
    return SeedBootstrap(np.asarray(point), np.stack(boot, axis=1), tuple(per_p))
