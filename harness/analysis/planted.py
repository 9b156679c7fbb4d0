"""Do a model's important positions fall on the planted motifs? (synthetic data)

The planted motif positions are the ground truth: precision and recall of each sequence's top-k
positions, AUROC of importance against the mask and the recovery of each motif: effect sizes,
tested by :mod:`harness.analysis.nulls`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

from harness.analysis.importance_masks import topk_mask


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
    ``chance_precision`` (the expected precision of k positions drawn at random within each
    sequence), ``fold_enrichment`` (precision / chance) and ``auroc`` (importance ranked within
    each sequence against the mask, pooled). Effect sizes only: the p-values come from
    :mod:`harness.analysis.nulls`, on the seed-mean importance.
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
        "auroc": nan,
    }
    if not rows.any() or not mask.any():
        return out
    top = topk_mask(imp, k)
    overlap = int(np.sum(top & mask))
    planted, drawn = int(mask.sum()), int(top.sum())
    # Each sequence is its own urn: drawing k_i of L positions, p_i of them planted. Pooling all
    # positions into one urn understates chance when k_i grows with p_i (k = planted count).
    expected = float(np.sum(k * mask.sum(axis=1) / length))
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
