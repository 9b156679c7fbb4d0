"""The test examples the per-position analyses run on: one seeded, class-balanced draw.

Importance, masking curves, motif enrichment and the TSS profile all read the same subset, so a
chance level or a null computed on it matches what the statistic saw. Test splits are often
sorted by class (Genomic Benchmarks) or skewed at the start (EPD), so the first ``m`` rows would
be mostly one class.
"""

from __future__ import annotations

import numpy as np

from harness.core.errors import UserError
from harness.core.results import RunResult

REGRESSION_BINS = 10  # quantile bins of the target that a regression subset is balanced over


def strata(labels: np.ndarray, task: str, bins: int = REGRESSION_BINS) -> np.ndarray:
    """Stratum of each example: its class, or its quantile bin of the target (regression).

    Parameters
    ----------
    labels : (n,) class labels or regression targets
    task : "binary" | "multiclass" | "regression"
    bins : quantile bins for regression

    Returns
    -------
    int64 (n,), strata numbered from 0
    """
    labels = np.asarray(labels)
    if task == "regression":
        values = np.nan_to_num(labels.astype(np.float64))
        edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]) if len(values) else []
        raw = np.searchsorted(edges, values, side="right")
    else:
        raw = labels
    return np.unique(raw, return_inverse=True)[1].astype(np.int64).reshape(-1)


def balanced_counts(sizes: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """How many examples to take from each stratum: as equal as the stratum sizes allow.

    A stratum smaller than its share gives all it has and the rest is shared among the others;
    the leftover ones of an uneven division go to strata drawn at random.

    Parameters
    ----------
    sizes : int (k,) examples per stratum ; m : total to take (at most ``sizes.sum()``)

    Returns
    -------
    int64 (k,), summing to ``min(m, sizes.sum())``
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    take = np.zeros_like(sizes)
    left = int(min(m, sizes.sum()))
    open_ = sizes > 0
    while left > 0:
        share = left // int(open_.sum())
        small = open_ & (sizes - take <= share)
        if small.any():  # fill the strata that run out first, then share again
            left -= int((sizes - take)[small].sum())
            take[small] = sizes[small]
            open_ &= ~small
            continue
        take[open_] += share
        left -= share * int(open_.sum())
        extra = rng.choice(np.flatnonzero(open_), size=left, replace=False)
        take[extra] += 1
        left = 0
    return take


def analysis_subset(labels: np.ndarray, task: str, m: int, seed: int) -> np.ndarray:
    """Rows of the test split the per-position analyses use: ``m`` of them, balanced by stratum.

    Parameters
    ----------
    labels : (n,) test labels (classes, or targets for regression)
    task : "binary" | "multiclass" | "regression"; classes are balanced as equally as their sizes
        allow, a regression target over :data:`REGRESSION_BINS` quantile bins
    m : size of the subset; ``m >= n`` gives every row
    seed : the subset seed (``evaluation.subset_seed``), independent of the training seed so every
        seed of a study analyses the same examples

    Returns
    -------
    int64 (min(m, n),) sorted row indices into the test split; the same for the same inputs
    """
    labels = np.asarray(labels)
    n = len(labels)
    if m >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    group = strata(labels, task)
    sizes = np.bincount(group)
    counts = balanced_counts(sizes, max(int(m), 0), rng)
    chosen = [
        rng.choice(np.flatnonzero(group == g), size=int(c), replace=False)
        for g, c in enumerate(counts)
        if c
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, np.int64)


def nested_subset(labels: np.ndarray, task: str, rows: np.ndarray, m: int, seed: int) -> np.ndarray:
    """At most ``m`` of ``rows``, drawn balanced in the same way (e.g. the masking curves' share
    of the importance subset): int64 sorted indices into the test split."""
    rows = np.asarray(rows, dtype=np.int64)
    return rows[analysis_subset(np.asarray(labels)[rows], task, m, seed)]


def importance_rows(run: RunResult) -> np.ndarray:
    """Test rows of ``run.importance``: int64 (m,), its recorded ``importance_index``.

    A run without a recorded index must have importance for the whole split, in order; anything
    else would pair importance with the wrong sequences, so it is refused.
    """
    if run.importance is None:
        return np.zeros(0, dtype=np.int64)
    if run.importance_index is not None:
        return np.asarray(run.importance_index, dtype=np.int64)
    if len(run.importance) != len(run.y_true):
        raise UserError(
            f"{run.dataset}/{run.model}/seed{run.seed}: importance covers {len(run.importance)} of "
            f"{len(run.y_true)} test rows but the run recorded no importance_index"
        )
    return np.arange(len(run.importance), dtype=np.int64)
