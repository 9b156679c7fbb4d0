"""Is a model different from the reference over seeds? Paired tests of one metric.

Over seeds (the unit the study replicates): paired t-test, Wilcoxon signed-rank and the 95% t
interval of the mean difference.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from harness.analysis.intervals import UNBOUNDED, Bounds, difference_bounds, mean_ci


def paired_seed_tests(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    bounds: Bounds = UNBOUNDED,
) -> dict[str, float]:
    """Paired tests of ``a - b`` over seeds.

    Parameters
    ----------
    a, b : (n_seeds,) the metric of the model and of the reference at the same seeds; pairs with a
        NaN are dropped.
    bounds : the metric's range; the interval of the difference stays within
        :func:`~harness.analysis.intervals.difference_bounds` of it.

    Returns
    -------
    dict with ``n``, ``diff`` (mean of a - b), ``diff_ci_lo``, ``diff_ci_hi`` (t interval),
    ``t_p`` (paired t-test) and ``wilcoxon_p`` (Wilcoxon signed-rank; exact for small n, so with
    fewer than 6 seeds it cannot go below 0.05).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    diff, lo, hi = mean_ci(d, confidence, difference_bounds(bounds))
    out = {
        "n": int(d.size),
        "diff": diff,
        "diff_ci_lo": lo,
        "diff_ci_hi": hi,
        "t_p": float("nan"),
        "wilcoxon_p": float("nan"),
    }
    if d.size < 2:
        return out
    if np.all(d == 0):
        out["t_p"] = out["wilcoxon_p"] = 1.0
        return out
    with warnings.catch_warnings():
        # a constant non-zero difference gives t = inf (p = 0), which is the right answer
        warnings.simplefilter("ignore", RuntimeWarning)
        out["t_p"] = float(stats.ttest_rel(a[keep], b[keep]).pvalue)
        out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    return out
