"""Multiple-comparison adjustment: Holm (default), Benjamini-Hochberg or Bonferroni."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests

from harness.core.errors import UserError

CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh", "bonferroni": "bonferroni"}


def adjust_pvalues(pvalues: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Family-wise (Holm, Bonferroni) or false-discovery (``"bh"``) adjusted p-values.

    Parameters
    ----------
    pvalues : (m,) raw p-values; NaNs stay NaN and are not counted in the family.
    method : "holm" | "bh" (Benjamini-Hochberg) | "bonferroni"
    """
    if method not in CORRECTIONS:
        raise UserError(f"unknown correction {method!r} (valid: holm, bh, bonferroni)")
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=CORRECTIONS[method])[1]
    return out
