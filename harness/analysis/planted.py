"""Do a model's important positions fall on the planted motifs? (synthetic data)

The planted motif positions are the ground truth: precision and recall of each sequence's top-k
positions, AUROC of importance against the mask, a hypergeometric test of the overlap and the
recovery of each motif.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

from harness.analysis.importance_masks import topk_mask


def sum_of_hypergeometric_sf(observed: int, mean: float, variance: float) -> float:
    """P(X >= observed) for X a sum of independent hypergeometric counts with this mean and
    variance (normal approximation with continuity correction; exact enough for n >> 1)."""
    if variance <= 0:
        return 1.0 if observed <= mean else 0.0
    return float(stats.norm.sf((observed - 0.5 - mean) / np.sqrt(variance)))


def planted_enrichment(
    importance: np.ndarray,
    motif_mask: np.ndarray,
    fraction: float | None = None,
) -> dict[str, float]:
    """How well a model's top-k positions find the planted motifs.

    Parameters
    ----------
    importance : (n, L) per-position importance
    motif_mask : bool (n, L), True at planted positions
    fraction : None -> k = number of planted positions of each sequence (sequences without any
        planted motif are left out); a float -> k = round(fraction * L) for every sequence.

    Returns
    -------
    dict with ``n_sequences``, ``k_total`` (positions selected), ``planted`` (planted positions),
    ``overlap``, ``precision`` and ``recall`` (pooled over sequences; equal when k = planted),
    ``chance_precision`` (the planted share of positions: what random positions score),
    ``fold_enrichment`` (precision / chance), ``hypergeom_p`` (upper tail of the overlap under
    independent per-sequence hypergeometric draws, normal approximation with continuity
    correction; ``chance_precision`` is that null's expected precision)
    and ``auroc`` (importance ranked within each sequence against the mask, pooled).
    """
    imp = np.asarray(importance, dtype=np.float64)
    mask = np.asarray(motif_mask, dtype=bool)
    length = imp.shape[1]
    if fraction is None:
        k = mask.sum(axis=1)
        rows = k > 0
    else:
        k = np.full(len(imp), max(1, round(fraction * length)))
        rows = np.ones(len(imp), dtype=bool)
    imp, mask, k = imp[rows], mask[rows], k[rows]
    nan = float("nan")
    out = {
        "n_sequences": int(rows.sum()),
        "k_total": int(k.sum()),
        "planted": int(mask.sum()),
        "overlap": 0,
        "precision": nan,
        "recall": nan,
        "chance_precision": nan,
        "fold_enrichment": nan,
        "hypergeom_p": nan,
        "auroc": nan,
    }
    if not rows.any() or not mask.any():
        return out
    top = topk_mask(imp, k)
    overlap = int(np.sum(top & mask))
    planted, drawn = int(mask.sum()), int(top.sum())
    # Each sequence is its own urn: drawing k_i of L positions, p_i of them planted. Pooling all
    # positions into one urn understates chance when k_i grows with p_i (k = planted count).
    p_i = mask.sum(axis=1) / length
    expected = float(np.sum(k * p_i))
    variance = float(np.sum(k * p_i * (1 - p_i) * (length - k) / max(length - 1, 1)))
    chance = expected / drawn if drawn else nan
    precision = overlap / drawn if drawn else nan
    # within-sequence percentile: importance scales differ between sequences
    pct = stats.rankdata(np.nan_to_num(imp, nan=-np.inf), axis=1) / length
    auroc = roc_auc_score(mask.ravel(), pct.ravel()) if not mask.all() else nan
    out.update(
        {
            "overlap": overlap,
            "precision": precision,
            "recall": overlap / planted,
            "chance_precision": chance,
            "fold_enrichment": precision / chance,
            "hypergeom_p": sum_of_hypergeometric_sf(overlap, expected, variance),
            "auroc": float(auroc),
        }
    )
    return out


def motif_recovery(
    importance: np.ndarray,
    motif_mask: np.ndarray,
    motif_id: np.ndarray,
    names: Sequence[str] | None = None,
    fraction: float | None = None,
) -> pd.DataFrame:
    """Fraction of each planted motif's positions that land in the top-k.

    Parameters
    ----------
    importance : (n, L) ; motif_mask : bool (n, L) ; motif_id : int (n, L), -1 off motifs
    names : motif names indexed by id (``meta["motifs"]``)
    fraction : as in :func:`planted_enrichment`

    Returns
    -------
    DataFrame with columns motif_id, motif, positions, recovered, recovery, one row per id present
    """
    mask = np.asarray(motif_mask, dtype=bool)
    ids = np.asarray(motif_id)
    length = mask.shape[1]
    k = mask.sum(axis=1) if fraction is None else max(1, round(fraction * length))
    top = topk_mask(importance, k)
    rows = []
    for j in sorted(int(v) for v in np.unique(ids[ids >= 0])):
        at = ids == j
        name = names[j] if names is not None and j < len(names) else str(j)
        hit = int(np.sum(top & at))
        rows.append(
            {
                "motif_id": j,
                "motif": name,
                "positions": int(at.sum()),
                "recovered": hit,
                "recovery": hit / int(at.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["motif_id", "motif", "positions", "recovered", "recovery"])
