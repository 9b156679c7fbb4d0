"""Is a model different from the reference over the test examples of one seed?

The same test split for both models: exact McNemar on correct / incorrect (accuracy) and DeLong
for AUROC (a paired bootstrap otherwise, :mod:`harness.analysis.bootstrap`).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar


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
