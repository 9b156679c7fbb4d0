"""Task metrics from scikit-learn and scipy, plus the constant predictor they are judged against."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from sklearn import metrics as skm

# Metrics where smaller is better; everything else is maximised.
LOWER_IS_BETTER = frozenset({"loss", "mse", "mae"})
# The metrics each task is judged by, headline first: tables, significance tests and the console
# show all of them; figures, baseline checks and tuning confirmations use the first (PRIMARY).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auroc", "accuracy", "mcc"),
    "regression": ("pearson", "r2", "mse"),
    "multiclass": ("accuracy", "f1", "mcc"),
}
PRIMARY = {task: metrics[0] for task, metrics in TASK_METRICS.items()}
# The range of each metric (intervals are built on a scale that keeps them inside it).
METRIC_BOUNDS: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "auroc": (0.0, 1.0),
    "auprc": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "mcc": (-1.0, 1.0),
    "pearson": (-1.0, 1.0),
    "spearman": (-1.0, 1.0),
    "r2": (-np.inf, 1.0),
    "mse": (0.0, np.inf),
    "mae": (0.0, np.inf),
}


def _safe_corr(fn, a: np.ndarray, b: np.ndarray) -> float:
    # A constant prediction has no defined correlation; we report 0 (no linear association).
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(a, b)[0])


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MSE, MAE, Pearson, Spearman, R² for ``(n,)`` targets and predictions."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return {
        "mse": float(skm.mean_squared_error(y_true, y_pred)),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "pearson": _safe_corr(stats.pearsonr, y_true, y_pred),
        "spearman": _safe_corr(stats.spearmanr, y_true, y_pred),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }


def binary_metrics(
    y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, AUROC, AUPRC, F1, MCC for ``(n,)`` 0/1 labels and ``(n,)`` P(class 1).

    Accuracy, F1 and MCC call class 1 where ``y_score >= threshold`` (AUROC/AUPRC need none).
    """
    y_true = np.asarray(y_true).astype(int)
    y_score = np.asarray(y_score, dtype=np.float64)
    y_hat = (y_score >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_hat)),
        "auroc": float(skm.roc_auc_score(y_true, y_score)) if both else float("nan"),
        "auprc": float(skm.average_precision_score(y_true, y_score)) if both else float("nan"),
        "f1": float(skm.f1_score(y_true, y_hat, zero_division=0)),
        "mcc": float(skm.matthews_corrcoef(y_true, y_hat)),
    }


def multiclass_metrics(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float]:
    """Accuracy, macro F1, MCC for ``(n,)`` labels and ``(n, C)`` probabilities."""
    y_true = np.asarray(y_true).astype(int)
    y_hat = np.asarray(y_prob).argmax(axis=1)
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_hat)),
        "f1": float(skm.f1_score(y_true, y_hat, average="macro", zero_division=0)),
        "mcc": float(skm.matthews_corrcoef(y_true, y_hat)),
    }


def compute_metrics(
    task: str, y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Every metric of ``task`` ("binary", "multiclass" or "regression").

    ``threshold`` is the binary decision threshold (see :func:`choose_threshold`); the other
    tasks need none.
    """
    if task == "regression":
        return regression_metrics(y_true, y_score)
    if task == "binary":
        return binary_metrics(y_true, y_score, threshold)
    return multiclass_metrics(y_true, y_score)


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics :func:`compute_metrics` returns for ``task`` (read off the function itself on
    four examples, so this list can never disagree with it)."""
    y = np.array([0, 1, 0, 1], dtype=float)
    score = np.array([0.1, 0.8, 0.3, 0.6])
    if task == "multiclass":
        return tuple(compute_metrics(task, y.astype(int), np.stack([1 - score, score], 1)))
    return tuple(compute_metrics(task, y, score))


def at_threshold(y_score: np.ndarray, threshold: float) -> np.ndarray:
    """Binary scores moved so that ``threshold`` lands on 0.5: ``(n,)`` -> ``(n,)``.

    Piecewise linear and strictly increasing on [0, 1], so ranks (AUROC, DeLong) are unchanged
    while every rule that calls class 1 at ``score >= 0.5`` (bootstrap confusion matrices,
    McNemar) calls it at ``score >= threshold``, as the logged test metrics do.
    """
    s = np.asarray(y_score, dtype=np.float64)
    t = float(threshold)
    if t == 0.5 or not 0.0 < t < 1.0:
        return s
    return np.where(s < t, 0.5 * s / t, 0.5 + 0.5 * (s - t) / (1.0 - t))


def choose_threshold(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The binary decision threshold that maximises MCC on *validation* scores.

    Rule: candidates are the midpoints between consecutive distinct scores (class 1 where
    ``score >= t``); the one with the highest MCC wins, ties going to the candidate closest to
    0.5. MCC rather than accuracy or F1 because it weighs both classes and both error kinds, so
    the choice does not drift with class balance. 0.5 when there is nothing to choose from
    (fewer than two distinct scores, or a single class). Call it on validation predictions only:
    a threshold tuned on test would inflate accuracy, F1 and MCC.

    Parameters
    ----------
    y_true : (n,) 0/1 labels
    y_score : (n,) P(class 1)

    Returns
    -------
    float threshold in (min score, max score], or 0.5
    """
    y_true = np.asarray(y_true).astype(int)
    y_score = np.asarray(y_score, dtype=np.float64)
    values = np.unique(y_score)  # ascending
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if len(values) < 2 or n_pos == 0 or n_neg == 0:
        return 0.5
    candidates = (values[:-1] + values[1:]) / 2
    # class-1 counts at or above each distinct score, from a cumulative count down the scores
    rank = np.searchsorted(values, y_score)
    pos_at = np.bincount(rank, weights=y_true, minlength=len(values))
    all_at = np.bincount(rank, minlength=len(values))
    tp = np.cumsum(pos_at[::-1])[::-1][1:]  # candidate k predicts 1 for values[k + 1:]
    pp = np.cumsum(all_at[::-1])[::-1][1:]
    fp, fn = pp - tp, n_pos - tp
    tn = n_neg - fp
    denom = np.sqrt(pp * (tn + fn) * n_pos * n_neg)
    mcc = np.divide(tp * tn - fp * fn, denom, out=np.zeros(len(candidates)), where=denom > 0)
    best = np.flatnonzero(np.isclose(mcc, mcc.max(), rtol=0, atol=1e-12))
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def constant_scores(task: str, train_labels: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    """What a do-nothing model predicts for ``n`` examples: the training mean (regression), the
    training frequency of class 1 (binary) or the class frequencies (multiclass)."""
    if task == "regression":
        return np.full(n, float(np.mean(train_labels)))
    if task == "binary":
        return np.full(n, float(np.mean(train_labels)))
    freq = np.bincount(train_labels.astype(int), minlength=n_classes) / len(train_labels)
    return np.tile(freq, (n, 1))


def is_better(metric: str, new: float, old: float) -> bool:
    """Whether ``new`` improves on ``old`` for ``metric`` (NaN never improves)."""
    if np.isnan(new):
        return False
    if np.isnan(old):
        return True
    return new < old if metric in LOWER_IS_BETTER else new > old
