"""Do a model's important positions fall on the core promoter? TSS profile and the TATA box.

Promoters with a known TSS (the positive sequences of a promoter set): the mean importance
profile around the TSS and the enrichment of the TATA-box window (-31..-24) and of TBP (MA0108)
hits among high-importance positions, tested against the nulls of :mod:`harness.analysis.nulls`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.importance_masks import high_low_masks, high_low_rates, valid_positions
from harness.analysis.jaspar import jaspar_motif, motif_hits
from harness.analysis.nulls import null_pvalues

TATA_WINDOW = (-31, -24)  # relative to the TSS (0 = TSS base), both ends included
TBP_MATRIX = "MA0108"
PROMOTER_COLUMNS = [
    "feature",
    "positions",
    "high_rate",
    "low_rate",
    "odds_ratio",
    "p_composition",
    "p_spatial",
]


def tss_profile(importance: np.ndarray, tss_index: np.ndarray) -> pd.DataFrame:
    """Mean importance by position relative to the TSS.

    Each sequence's importance is divided by its own mean first, so that a value of 2 reads "twice
    this sequence's average" and no sequence dominates through its scale.

    Parameters
    ----------
    importance : (n, L) ; tss_index : (n,) 0-based TSS position in each sequence

    Returns
    -------
    DataFrame with columns offset (position - TSS), mean_relative_importance, n_sequences
    """
    imp = np.asarray(importance, dtype=np.float64)
    tss = np.asarray(tss_index, dtype=int)
    scale = np.nanmean(np.abs(imp), axis=1, keepdims=True)
    rel = np.divide(imp, scale, out=np.zeros_like(imp), where=scale > 0)
    offsets = np.arange(imp.shape[1])[None, :] - tss[:, None]
    lo = int(offsets.min())
    flat = (offsets - lo).ravel()
    ok = np.isfinite(rel).ravel()
    total = np.bincount(flat[ok], weights=rel.ravel()[ok])
    count = np.bincount(flat[ok], minlength=len(total))
    keep = count > 0
    return pd.DataFrame(
        {
            "offset": np.arange(lo, lo + len(total))[keep],
            "mean_relative_importance": total[keep] / count[keep],
            "n_sequences": count[keep],
        }
    )


def window_mask(
    tss_index: np.ndarray, length: int, window: tuple[int, int] = TATA_WINDOW
) -> np.ndarray:
    """bool (n, L): positions whose offset from the TSS lies in ``window`` (both ends included)."""
    offsets = np.arange(length)[None, :] - np.asarray(tss_index, dtype=int)[:, None]
    return (offsets >= window[0]) & (offsets <= window[1])


def positive_rows(labels: np.ndarray, task: str) -> np.ndarray:
    """bool (n,): the sequences that carry a TSS. In a binary promoter set only the positives do;
    negatives get a ``tss_index`` too (the ``table`` adapter gives every row the same one), but
    there it marks nothing. Other tasks: every sequence."""
    labels = np.asarray(labels)
    return labels == 1 if task == "binary" else np.ones(len(labels), dtype=bool)


def promoter_enrichment(
    importance: np.ndarray,
    tokens: np.ndarray,
    tss_index: np.ndarray,
    q: float = 0.1,
    window: tuple[int, int] = TATA_WINDOW,
    tbp: Any | None = None,
    pvalue: float = 1e-4,
    with_tss: np.ndarray | None = None,
    n_perm: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """High-importance positions in the TATA-box window and in TBP motif hits, against both nulls.

    Parameters
    ----------
    importance : (n, L), e.g. the seed-mean within-sequence ranks ; tokens : uint8 (n, L) ;
        tss_index : (n,)
    tbp : the TBP motif; default JASPAR ``MA0108`` (latest version)
    with_tss : bool (n,), sequences whose TSS is real (:func:`positive_rows`); the TATA window is
        only marked on them. Default: all
    n_perm, seed : draws per null and their seed (:func:`harness.analysis.nulls.null_pvalues`)

    Returns
    -------
    DataFrame with one row per feature: feature, positions, high_rate, low_rate, odds_ratio (top
    vs bottom ``q`` of each sequence's positions: effect sizes), p_composition, p_spatial (the
    top ``q`` inside the feature, against each null)
    """
    tokens = np.asarray(tokens)
    valid = valid_positions(tokens)
    tbp = tbp if tbp is not None else jaspar_motif(TBP_MATRIX)
    with_tss = np.ones(len(tokens), dtype=bool) if with_tss is None else np.asarray(with_tss)
    features = {
        f"TATA window {window[0]}..{window[1]}": window_mask(tss_index, tokens.shape[1], window)
        & with_tss[:, None],
        f"TBP {tbp.matrix_id} hits": motif_hits(tokens, tbp, pvalue),
    }
    high, _ = high_low_masks(importance, q, valid)
    rows = []
    for name, feature in features.items():
        feature = feature & valid
        rates = high_low_rates(importance, feature, q, valid)
        nulls = null_pvalues(high, feature, tokens, n_perm, seed)
        rows.append(
            {
                "feature": name,
                "positions": int(feature.sum()),
                "high_rate": rates["high_rate"],
                "low_rate": rates["low_rate"],
                "odds_ratio": rates["odds_ratio"],
                "p_composition": nulls["p_composition"],
                "p_spatial": nulls["p_spatial"],
            }
        )
    return pd.DataFrame(rows, columns=PROMOTER_COLUMNS)
