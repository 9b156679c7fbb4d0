"""Permutation nulls for "important positions fall inside a feature" (motif, window, JASPAR hit).

The statistic is the number of selected positions (each sequence's top-k or top-q importance)
that lie inside the feature. Two nulls, each controlling a confounder the naive
position-independent tests (Fisher, hypergeometric) do not:

- composition-matched: importance permuted among the positions of each sequence that hold the
  same nucleotide. An importance that merely prefers A/T is not "enriched" at an AT-rich TATA
  window, because its permutations prefer A/T just as much.
- spatial: importance circularly shifted within each sequence by a random offset. Neighbouring
  importances stay together, so a smooth (spatially autocorrelated) importance that happens to
  cover a contiguous feature is not "enriched" either.

The two answer different questions, so both p-values are reported; a reviewer should accept
enrichment only where both are small. Both are one-sided Monte Carlo p-values
``(1 + #{null >= observed}) / (1 + n_perm)``, valid at any number of permutations.

Seeds share their test examples, so they are not independent samples: the tables test the
seed-averaged importance (:func:`seed_mean_importance`), never examples pooled across seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from harness.analysis.importance_masks import ranked_importance

N_BASES = 4  # A, C, G, T: the nucleotide classes of the composition null
_CHUNK = 2_000_000  # null draws held in memory at once


def within_ranks(importance: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Each sequence's importance as its rank among the sequence's positions, scaled to (0, 1].

    Parameters
    ----------
    importance : (n, L), NaN counts as lowest ; valid : optional bool (n, L), invalid positions
        rank below every valid one

    Returns
    -------
    float64 (n, L)
    """
    imp = ranked_importance(importance, valid)
    return stats.rankdata(imp, axis=1) / max(imp.shape[1], 1)


def seed_mean_importance(
    importances: Sequence[np.ndarray], valid: np.ndarray | None = None
) -> np.ndarray:
    """Mean over seeds of each seed's within-sequence ranks: (S of (n, L)) -> (n, L).

    Ranks, not raw values, so that no seed dominates through the scale of its importance. The
    seeds must score the same examples in the same order.
    """
    return np.mean([within_ranks(imp, valid) for imp in importances], axis=0)


def monte_carlo_pvalue(observed: float, null: np.ndarray) -> float:
    """One-sided ``P(null >= observed)`` with the observed value counted as one draw."""
    null = np.asarray(null)
    return float((1 + np.sum(null >= observed)) / (1 + null.size))


def composition_null(
    selected: np.ndarray,
    feature: np.ndarray,
    tokens: np.ndarray,
    n_perm: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Overlap counts with the selection permuted within each nucleotide class of each sequence.

    Permuting within a class moves the selected positions of class c among that class's positions,
    so the overlap of one (sequence, class) cell is hypergeometric: drawing the cell's feature
    positions from its positions, of which the selected ones are "good". The null of the total is
    the sum of independent cell draws, sampled exactly (no permutation is materialised).

    Parameters
    ----------
    selected, feature : bool (n, L) ; tokens : uint8 (n, L), classes A C G T (other tokens never
        count) ; n_perm : null draws ; rng : their generator

    Returns
    -------
    int64 (n_perm,) null overlap counts
    """
    cls = np.asarray(tokens)
    sel, feat = np.asarray(selected, dtype=bool), np.asarray(feature, dtype=bool)
    size = np.stack([(cls == c).sum(axis=1) for c in range(N_BASES)], axis=1).ravel()
    good = np.stack([(sel & (cls == c)).sum(axis=1) for c in range(N_BASES)], axis=1).ravel()
    draw = np.stack([(feat & (cls == c)).sum(axis=1) for c in range(N_BASES)], axis=1).ravel()
    # cells where every class position is selected contribute all their feature positions
    fixed = int(draw[(good == size) & (draw > 0)].sum())
    free = (draw > 0) & (good > 0) & (good < size)
    good, bad, draw = good[free], (size - good)[free], draw[free]
    out = np.full(n_perm, fixed, dtype=np.int64)
    if not free.any():
        return out
    step = max(1, _CHUNK // len(good))
    for start in range(0, n_perm, step):
        b = min(step, n_perm - start)
        out[start : start + b] += rng.hypergeometric(good, bad, draw, size=(b, len(good))).sum(1)
    return out


def spans(valid: np.ndarray) -> np.ndarray:
    """Length of each sequence up to its last valid position: int (n,). Shifts wrap around
    within it, so trailing padding never receives a shifted importance."""
    valid = np.asarray(valid, dtype=bool)
    last = valid.shape[1] - np.argmax(valid[:, ::-1], axis=1)
    return np.where(valid.any(axis=1), last, 0)


def shift_overlaps(selected: np.ndarray, feature: np.ndarray, span: int) -> np.ndarray:
    """Overlap of the feature with the selection shifted by every offset: (n, span) -> (n, span).

    ``out[i, s] = sum_j feature[i, j] * selected[i, (j + s) mod span]`` (a circular
    cross-correlation, by FFT).
    """
    f = np.fft.rfft(np.asarray(feature, dtype=np.float64), axis=1)
    s = np.fft.rfft(np.asarray(selected, dtype=np.float64), axis=1)
    return np.rint(np.fft.irfft(np.conj(f) * s, n=span, axis=1)).astype(np.int64)


def spatial_null(
    selected: np.ndarray,
    feature: np.ndarray,
    valid: np.ndarray,
    n_perm: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Overlap counts with each sequence's selection circularly shifted by a random offset.

    Parameters
    ----------
    selected, feature, valid : bool (n, L) ; n_perm : null draws ; rng : their generator

    Returns
    -------
    int64 (n_perm,) null overlap counts (each sequence shifted independently, uniformly over its
    span, :func:`spans`)
    """
    sel, feat = np.asarray(selected, dtype=bool), np.asarray(feature, dtype=bool)
    span = spans(valid)
    rows = feat.any(axis=1) & sel.any(axis=1) & (span > 0)
    out = np.zeros(n_perm, dtype=np.int64)
    for length in np.unique(span[rows]):
        group = rows & (span == length)
        table = shift_overlaps(sel[group, :length], feat[group, :length], int(length))
        step = max(1, _CHUNK // len(table))
        for start in range(0, n_perm, step):
            b = min(step, n_perm - start)
            shift = rng.integers(0, length, size=(b, len(table)))
            out[start : start + b] += table[np.arange(len(table)), shift].sum(axis=1)
    return out


def null_pvalues(
    selected: np.ndarray,
    feature: np.ndarray,
    tokens: np.ndarray,
    n_perm: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Observed overlap of ``selected`` with ``feature`` and its p-value under both nulls.

    Parameters
    ----------
    selected, feature : bool (n, L) ; tokens : uint8 (n, L), the same sequences (invalid
        positions, N and PAD, are dropped from both masks) ; n_perm : draws per null ; seed : seeds
        both nulls

    Returns
    -------
    dict with ``overlap`` (selected positions inside the feature), ``expected`` (the
    composition-matched null's mean: chance given each sequence's base composition),
    ``p_composition`` and ``p_spatial``
    """
    tokens = np.asarray(tokens)
    valid = tokens < N_BASES
    sel = np.asarray(selected, dtype=bool) & valid
    feat = np.asarray(feature, dtype=bool) & valid
    observed = int(np.sum(sel & feat))
    rng_c, rng_s = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    comp = composition_null(sel, feat, tokens, n_perm, rng_c)
    shift = spatial_null(sel, feat, valid, n_perm, rng_s)
    return {
        "overlap": observed,
        "expected": float(comp.mean()) if comp.size else float("nan"),
        "p_composition": monte_carlo_pvalue(observed, comp),
        "p_spatial": monte_carlo_pvalue(observed, shift),
    }
