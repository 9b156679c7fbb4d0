"""Pairing a model with the reference: metric direction, shared test examples, retention."""

from __future__ import annotations

import numpy as np

from harness.core.metrics import LOWER_IS_BETTER, at_threshold
from harness.core.results import RunResult


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def _common(a: RunResult, b: RunResult) -> tuple[np.ndarray, np.ndarray]:
    # positions in a and in b of the test examples both scored, in a's order
    pos_b = {str(k): i for i, k in enumerate(b.ids)}
    ia = np.array([i for i, k in enumerate(a.ids) if str(k) in pos_b], dtype=int)
    return ia, np.array([pos_b[str(a.ids[i])] for i in ia], dtype=int)


def decision_scores(run: RunResult) -> np.ndarray:
    """The run's test scores with its validation-chosen binary threshold moved to 0.5
    (:func:`harness.core.metrics.at_threshold`), so that tests which call class 1 at 0.5 judge
    the same decisions as the logged metrics; other tasks' scores as they are."""
    if run.task != "binary":
        return np.asarray(run.y_score)
    return at_threshold(run.y_score, run.threshold)


def align_runs(a: RunResult, b: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test examples both runs scored, in ``a``'s order: ``(y_true (n,), score_a, score_b)``,
    scores on the decision scale of :func:`decision_scores`."""
    sa, sb = decision_scores(a), decision_scores(b)
    if len(a.ids) == len(b.ids) and np.array_equal(a.ids, b.ids):
        return np.asarray(a.y_true), sa, sb
    ia, ib = _common(a, b)
    return np.asarray(a.y_true)[ia], sa[ia], sb[ib]


def common_ids(a: RunResult, b: RunResult) -> np.ndarray:
    """Ids of the test examples both runs scored, in the order of :func:`align_runs`: (n,)."""
    if len(a.ids) == len(b.ids) and np.array_equal(a.ids, b.ids):
        return np.asarray(a.ids)
    return np.asarray(a.ids)[_common(a, b)[0]]


def retention_ratio(
    model: np.ndarray | float, reference: np.ndarray | float, metric: str
) -> np.ndarray:
    """Fraction of the reference's performance a model keeps: model / reference, or reference /
    model for lower-is-better metrics (MSE), so that 1 means "as good" and < 1 "worse"."""
    model, reference = np.asarray(model, dtype=np.float64), np.asarray(reference, np.float64)
    num, den = (model, reference) if higher_is_better(metric) else (reference, model)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den
