"""Ablation (masking) curves summarised over seeds: mean curves and the area per masking order.

Each run carries curves of its test metric as positions are masked high-to-low, low-to-high and
at random (:mod:`harness.train.ablation`). Per dataset and model this gives the mean curve over
seeds (for the figure) and each order's mean value over the curve ("area"), with the 95% t
interval of the ``random - high_to_low`` gap: positive means the importance ranking finds
positions the model needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.index import StudyIndex
from harness.analysis.intervals import mean_ci
from harness.core.results import RunResult
from harness.train.ablation import ORDERS, curve_area, curve_metric_name

CURVE_COLUMNS = ["dataset", "model", "order", "n_masked", "value"]


def _has_curves(r: RunResult) -> bool:
    return bool(len(r.ablation.get("n_masked", ())))


def mean_curves(runs: Sequence[RunResult]) -> dict[str, np.ndarray] | None:
    """Mean over seeds of each order's curve, on the first run's x axis.

    Runs whose ``n_masked`` differs from the first one's are left out (they cannot be averaged
    point by point).

    Returns
    -------
    ``{"n_masked": (S,), order: (S,) ...}`` for the orders present, or None without curves.
    """
    curves = [r.ablation for r in runs if _has_curves(r)]
    if not curves:
        return None
    x = np.asarray(curves[0]["n_masked"])
    same = [c for c in curves if np.array_equal(np.asarray(c["n_masked"]), x)]
    out = {"n_masked": x}
    for order in ORDERS:
        stack = [np.asarray(c[order], dtype=np.float64) for c in same if order in c]
        if stack:
            out[order] = np.nanmean(np.vstack(stack), axis=0)
    return out


def area_row(runs: Sequence[RunResult], metric: str) -> dict[str, Any]:
    """Seeds, unmasked value, mean area per order and the random - high_to_low gap (t CI)."""
    with_curves = [r for r in runs if _has_curves(r)]
    areas = {
        o: [
            curve_area(r.ablation["n_masked"], r.ablation[o])
            for r in with_curves
            if o in r.ablation
        ]
        for o in ORDERS
    }
    gap = [a - b for a, b in zip(areas["random"], areas["high_to_low"], strict=False)]
    mean, lo, hi = mean_ci(gap)
    return {
        "metric": metric,
        "seeds": len(with_curves),
        "unmasked": float(np.nanmean([r.ablation["high_to_low"][0] for r in with_curves])),
        **{f"area {o}": float(np.nanmean(areas[o])) if areas[o] else np.nan for o in ORDERS},
        "gap": mean,
        "gap_ci_lo": lo,
        "gap_ci_hi": hi,
    }


def _curve_rows(ds: str, model: str, mean: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    x = mean["n_masked"]
    return [
        {"dataset": ds, "model": model, "order": order, "n_masked": xi.item(), "value": float(y)}
        for order in ORDERS
        if order in mean
        for xi, y in zip(x, mean[order], strict=True)
    ]


def ablation_tables(ix: StudyIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ablation summary of every dataset and model with curves.

    Returns
    -------
    areas : dataset, model, metric, seeds, unmasked, ``area <order>`` per order, gap,
        gap_ci_lo, gap_ci_hi (see :func:`area_row`)
    curves : long mean curves, columns :data:`CURVE_COLUMNS`, in the study's model order
    """
    areas, curves = [], []
    for ds in ix.datasets:
        metric = curve_metric_name(ix.task(ds))
        for model in ix.models(ds):
            runs = ix.runs(ds, model)
            mean = mean_curves(runs)
            if mean is None:
                continue
            areas.append({"dataset": ds, "model": model, **area_row(runs, metric)})
            curves += _curve_rows(ds, model, mean)
    return pd.DataFrame(areas), pd.DataFrame(curves, columns=CURVE_COLUMNS)
