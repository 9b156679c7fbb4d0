"""Do a model's important positions fall on the core promoter? TSS profile and the TATA box.

Promoters with a known TSS: the mean importance profile around the TSS and the enrichment of the
TATA-box window (-31..-24) and of TBP (MA0108) hits among high-importance positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.importance_masks import fisher_high_low, valid_positions
from harness.analysis.jaspar import jaspar_motif, motif_hits

TATA_WINDOW = (-31, -24)  # relative to the TSS (0 = TSS base), both ends included
TBP_MATRIX = "MA0108"


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


def promoter_enrichment(
    importance: np.ndarray,
    tokens: np.ndarray,
    tss_index: np.ndarray,
    q: float = 0.1,
    window: tuple[int, int] = TATA_WINDOW,
    tbp: Any | None = None,
    pvalue: float = 1e-4,
) -> pd.DataFrame:
    """High- vs low-importance positions in the TATA-box window and in TBP motif hits (Fisher).

    Parameters
    ----------
    importance : (n, L) ; tokens : uint8 (n, L) ; tss_index : (n,)
    tbp : the TBP motif; default JASPAR ``MA0108`` (latest version)

    Returns
    -------
    DataFrame with one row per feature: feature, positions, high_rate, low_rate, odds_ratio, pvalue
    """
    tokens = np.asarray(tokens)
    valid = valid_positions(tokens)
    tbp = tbp if tbp is not None else jaspar_motif(TBP_MATRIX)
    features = {
        f"TATA window {window[0]}..{window[1]}": window_mask(tss_index, tokens.shape[1], window),
        f"TBP {tbp.matrix_id} hits": motif_hits(tokens, tbp, pvalue),
    }
    rows = []
    for name, feature in features.items():
        feature = feature & valid
        res = fisher_high_low(importance, feature, q, valid)
        rows.append(
            {
                "feature": name,
                "positions": int(feature.sum()),
                "high_rate": res["high_rate"],
                "low_rate": res["low_rate"],
                "odds_ratio": res["odds_ratio"],
                "pvalue": res["pvalue"],
            }
        )
    return pd.DataFrame(
        rows, columns=["feature", "positions", "high_rate", "low_rate", "odds_ratio", "pvalue"]
    )
