"""Masking curves (AttnGen Table II): does the model need the positions its importance ranks high?

Positions are replaced by a mask token in order of importance (highest first, lowest first, or at
random) and the test metric is recomputed after each step. If importance is faithful, removing the
high-importance positions hurts sooner than removing random ones, and removing the low-importance
ones hurts least.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.core.dataset import PAD_TOKEN
from harness.core.metrics import compute_metrics

ORDERS = ("high_to_low", "low_to_high", "random")
PredictFn = Callable[[np.ndarray], np.ndarray]


def curve_metric_name(task: str) -> str:
    """Accuracy for classification, Pearson for regression."""
    return "pearson" if task == "regression" else "accuracy"


def masking_steps(length: int, steps: int | Sequence[int]) -> np.ndarray:
    """Numbers of masked positions: ``steps`` evenly spaced points from 0 to ``length`` (an int),
    or the given counts (clipped to [0, length], sorted, de-duplicated)."""
    if isinstance(steps, int | np.integer):
        points = np.linspace(0, length, max(int(steps), 2))
    else:
        points = np.asarray(list(steps), dtype=np.float64)
    return np.unique(np.clip(np.round(points), 0, length).astype(int))


def masking_order(importance: np.ndarray, order: str, rng: np.random.Generator) -> np.ndarray:
    """Per sequence, positions in the order they are masked: (n, L) int.

    Ties in importance are broken at random (drawn from ``rng``, so the curve is reproducible),
    not by position: a flat importance must mask like the random order, not from the left end.
    NaN counts as least important.
    """
    imp = np.nan_to_num(np.asarray(importance, dtype=np.float64), nan=-np.inf)
    if order == "random":
        return rng.permuted(np.tile(np.arange(imp.shape[1]), (imp.shape[0], 1)), axis=1)
    tiebreak = rng.random(imp.shape)
    if order == "high_to_low":
        return np.lexsort((tiebreak, -imp), axis=-1)
    if order == "low_to_high":
        return np.lexsort((tiebreak, np.where(np.isneginf(imp), np.inf, imp)), axis=-1)
    raise ValueError(f"unknown order {order!r} (valid: {', '.join(ORDERS)})")


# Masked copies predicted in one call hold at most this many tokens (memory bound: 64 MiB of
# uint8 here; the model's own batches stay ``predict``'s).
MAX_BATCHED_TOKENS = 1 << 26


def masked_copies(
    tokens: np.ndarray, ranked: np.ndarray, n_masked: np.ndarray, mask_token: int = PAD_TOKEN
) -> np.ndarray:
    """Every step's masked copy of ``tokens``, stacked: (s * n, L), step-major.

    Parameters
    ----------
    tokens : uint8 (n, L) ; ranked : int (n, L), positions in the order they are masked
    n_masked : int (s,), increasing numbers of masked positions
    """
    n, length = tokens.shape
    out = np.empty((len(n_masked), n, length), dtype=tokens.dtype)
    rows = np.arange(n)[:, None]
    masked = tokens.copy()
    done = 0
    for k, m in enumerate(n_masked):
        # steps are increasing: mask only the positions added since the previous step
        masked[rows, ranked[:, done:m]] = mask_token
        done = m
        out[k] = masked
    return out.reshape(-1, length)


def predict_stacked(predict_fn: PredictFn, stacked: np.ndarray, n: int) -> list[np.ndarray]:
    """``predict_fn`` over ``stacked`` (k * n, L) in as few calls as ``MAX_BATCHED_TOKENS``
    allows (whole groups of ``n`` rows per call); the k groups' scores, in order."""
    groups = len(stacked) // n if n else 0
    per_call = max(1, MAX_BATCHED_TOKENS // max(1, n * stacked.shape[1]))
    scores: list[np.ndarray] = []
    for first in range(0, groups, per_call):
        last = min(groups, first + per_call)
        out = np.asarray(predict_fn(stacked[first * n : last * n]))
        scores += [out[k * n : (k + 1) * n] for k in range(last - first)]
    return scores


def masking_curve(
    predict_fn: PredictFn,
    tokens: np.ndarray,
    labels: np.ndarray,
    importance: np.ndarray,
    task: str,
    order: str = "high_to_low",
    steps: int | Sequence[int] = 10,
    seed: int = 0,
    mask_token: int = PAD_TOKEN,
) -> tuple[np.ndarray, np.ndarray]:
    """Test metric as more and more positions are masked.

    Parameters
    ----------
    predict_fn : uint8 tokens (n, L) -> scores, (n,) P(class 1) / values or (n, C) probabilities
        (as :func:`harness.core.model.predict`); called on every step's masked copies at once
        (rows are scored independently, so this equals one call per step)
    tokens : uint8 (n, L) ; labels : (n,) ; importance : (n, L), higher = more important
    task : "binary" | "multiclass" | "regression"
    order : "high_to_low" | "low_to_high" | "random"
    steps : number of evenly spaced points from 0 to L, or explicit numbers of masked positions
    seed : seeds the random order
    mask_token : what masked positions become (PAD by default)

    Returns
    -------
    n_masked : int (s,) ; metric : float (s,), accuracy (classification) or Pearson (regression)
    """
    curves = ablation_curves(
        predict_fn, tokens, labels, importance, task, steps, seed, mask_token, orders=(order,)
    )
    return curves["n_masked"], curves[order]


def ablation_curves(
    predict_fn: PredictFn,
    tokens: np.ndarray,
    labels: np.ndarray,
    importance: np.ndarray,
    task: str,
    steps: int | Sequence[int] = 10,
    seed: int = 0,
    mask_token: int = PAD_TOKEN,
    orders: Sequence[str] = ORDERS,
) -> dict[str, np.ndarray]:
    """The masking curves on the same x axis, every order's masked copies predicted together.

    Each order draws its tie-breaks (and the random order) from a generator seeded with ``seed``,
    as if computed alone.

    Returns
    -------
    dict with ``n_masked`` (s,) and each of ``orders`` (default ``high_to_low``,
    ``low_to_high``, ``random``): (s,) metric values
    """
    tokens = np.asarray(tokens)
    n, length = tokens.shape
    n_masked = masking_steps(length, steps)
    # nothing masked is the same copy in every order: scored once, shared
    shared = len(n_masked) > 0 and n_masked[0] == 0
    masked = n_masked[1:] if shared else n_masked
    parts = [tokens] if shared else []
    for order in orders:
        ranked = masking_order(importance, order, np.random.default_rng(seed))
        parts.append(masked_copies(tokens, ranked, masked, mask_token))
    scores = predict_stacked(predict_fn, np.concatenate(parts), n)
    name = curve_metric_name(task)
    first = [compute_metrics(task, labels, scores.pop(0))[name]] if shared else []
    out: dict[str, np.ndarray] = {"n_masked": n_masked}
    for i, order in enumerate(orders):
        group = scores[i * len(masked) : (i + 1) * len(masked)]
        values = first + [compute_metrics(task, labels, s)[name] for s in group]
        out[order] = np.asarray(values, dtype=np.float64)
    return out


def curve_area(n_masked: np.ndarray, values: np.ndarray) -> float:
    """Mean metric over the curve (trapezoidal area / width of the x range): one number per curve;
    a faithful importance gives ``high_to_low`` a smaller area than ``random``."""
    x = np.asarray(n_masked, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0:
        return float("nan")
    if x.size == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def value_at(n_masked: np.ndarray, values: np.ndarray, m: float) -> float:
    """The curve linearly interpolated at ``m`` masked positions (NaN outside the x range)."""
    x = np.asarray(n_masked, dtype=np.float64)
    if x.size == 0 or m < x[0] or m > x[-1]:
        return float("nan")
    return float(np.interp(m, x, np.asarray(values, dtype=np.float64)))
