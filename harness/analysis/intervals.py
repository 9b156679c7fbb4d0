"""Mean and t interval of a metric over seeds (the unit a study replicates)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, ...]:
    """Mean and two-sided t interval of ``values`` (e.g. one metric over seeds).

    Parameters
    ----------
    values : (n,) floats; NaNs are dropped.
    confidence : coverage of the interval.

    Returns
    -------
    (mean, lo, hi). With no finite value all three are NaN; with one value the interval is
    ``(nan, nan)``; with zero spread it collapses to the mean.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    mean = float(v.mean())
    if v.size == 1:
        return mean, float("nan"), float("nan")
    sem = float(stats.sem(v))
    if sem == 0:
        return mean, mean, mean
    lo, hi = stats.t.interval(confidence, v.size - 1, loc=mean, scale=sem)
    return mean, float(lo), float(hi)
