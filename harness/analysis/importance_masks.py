"""Which positions of each sequence count as important, and are they inside a feature?

Shared by the planted-motif, JASPAR and promoter analyses: each sequence's top-k positions, its
high- (top ``q``) and low-importance (bottom ``q``) positions, how often each falls inside a
feature, and the positions that count at all (real bases).
"""

from __future__ import annotations

import numpy as np


def ranked_importance(importance: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """float64 ``(n, L)`` importance ready to rank: NaN and invalid positions become -inf, so
    they rank below every valid position."""
    imp = np.nan_to_num(np.asarray(importance, dtype=np.float64), nan=-np.inf)
    return imp if valid is None else np.where(valid, imp, -np.inf)


def topk_mask(
    importance: np.ndarray, k: int | np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """The ``k`` highest-importance positions of each sequence.

    Parameters
    ----------
    importance : (n, L) ; NaN counts as lowest.
    k : int or (n,) ints, positions to take per sequence.
    valid : optional bool (n, L); invalid positions are never taken.

    Returns
    -------
    bool (n, L)
    """
    imp = ranked_importance(importance, valid)
    n, length = imp.shape
    # Ties are broken by a fixed random draw, not by position: a constant importance must select
    # like random positions, not like the left end of every sequence.
    tiebreak = np.random.default_rng(0).random(imp.shape)
    order = np.lexsort((tiebreak, -imp), axis=-1)
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(length)[None, :]
    k = np.broadcast_to(np.asarray(k), (n,))
    out = ranks < k[:, None]
    return out & valid if valid is not None else out


def high_low_masks(
    importance: np.ndarray, q: float, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom ``q`` fraction of each sequence's valid positions (at least one each).

    Returns
    -------
    high, low : bool (n, L), disjoint as long as ``q <= 0.5``
    """
    imp = np.asarray(importance, dtype=np.float64)
    valid = np.ones(imp.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    k = np.maximum(1, np.round(q * valid.sum(axis=1))).astype(int)
    k = np.where(valid.any(axis=1), k, 0)
    high = topk_mask(imp, k, valid)
    low = topk_mask(-imp, k, valid) & ~high
    return high, low


def high_low_rates(
    importance: np.ndarray, feature: np.ndarray, q: float = 0.1, valid: np.ndarray | None = None
) -> dict[str, float]:
    """How often high- and low-importance positions fall inside ``feature`` (effect sizes only).

    No p-value: positions of a sequence are neither independent nor exchangeable across
    nucleotides, so a Fisher test of this table is confounded; :mod:`harness.analysis.nulls`
    tests it.

    Parameters
    ----------
    importance : (n, L) ; feature : bool (n, L), e.g. positions covered by a motif hit
    q : fraction of each sequence's positions called high (top) and low (bottom)
    valid : bool (n, L), positions that count (not PAD / N)

    Returns
    -------
    dict with ``high_in``, ``high_n``, ``low_in``, ``low_n`` (counts), ``high_rate``,
    ``low_rate`` and ``odds_ratio`` (sample odds ratio of the 2x2 table, NaN when undefined)
    """
    high, low = high_low_masks(importance, q, valid)
    feature = np.asarray(feature, dtype=bool)
    high_in, high_n = int(np.sum(high & feature)), int(high.sum())
    low_in, low_n = int(np.sum(low & feature)), int(low.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.float64(high_in * (low_n - low_in)) / np.float64((high_n - high_in) * low_in)
    return {
        "high_in": high_in,
        "high_n": high_n,
        "low_in": low_in,
        "low_n": low_n,
        "high_rate": high_in / high_n if high_n else float("nan"),
        "low_rate": low_in / low_n if low_n else float("nan"),
        "odds_ratio": float(odds),
    }


def valid_positions(tokens: np.ndarray) -> np.ndarray:
    """bool (n, L): real bases (A, C, G, T); N and PAD positions never count."""
    return np.asarray(tokens) < 4
