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


def binary_metrics(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Accuracy, AUROC, AUPRC, F1, MCC for ``(n,)`` 0/1 labels and ``(n,)`` P(class 1)."""
    y_true = np.asarray(y_true).astype(int)
    y_score = np.asarray(y_score, dtype=np.float64)
    y_hat = (y_score >= 0.5).astype(int)
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


def compute_metrics(task: str, y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Every metric of ``task`` ("binary", "multiclass" or "regression")."""
    if task == "regression":
        return regression_metrics(y_true, y_score)
    if task == "binary":
        return binary_metrics(y_true, y_score)
    return multiclass_metrics(y_true, y_score)


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
