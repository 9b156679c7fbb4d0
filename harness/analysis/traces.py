"""Per-run data behind the figures that are not tables: learning curves and importance maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.enrichment import shared_runs
from harness.analysis.headline import primary_metric
from harness.analysis.index import StudyIndex
from harness.core.results import DatasetRecord

MAX_EXAMPLES = 3  # test sequences shown in the importance maps
CURVE_COLUMNS = ["dataset", "model", "seed", "key", "epoch", "value"]


# ------------------------------------------------------------------------- learning curves
def curve_keys(ix: StudyIndex, ds: str) -> list[str]:
    """Which per-epoch series of ``ds`` are drawn: validation primary metric, val / train loss."""
    runs = [r for r in ix.runs(ds) if r.curves]
    wanted = (f"val_{primary_metric(ix.task(ds))}", "val_loss", "train_loss")
    return [k for k in wanted if any(k in r.curves for r in runs)]


def learning_curves(ix: StudyIndex) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Every run's per-epoch series that the learning-curve figure draws.

    Returns
    -------
    curves : long DataFrame, columns :data:`CURVE_COLUMNS` (epoch from 1), runs in the study's
        order (by dataset, then seed)
    keys : dataset -> the series drawn, in panel order; datasets without curves are absent
    """
    rows: list[dict[str, Any]] = []
    keys: dict[str, list[str]] = {}
    for ds in ix.datasets:
        wanted = curve_keys(ix, ds)
        if not wanted:
            continue
        keys[ds] = wanted
        for r in ix.runs(ds):
            for key in wanted:
                for epoch, value in enumerate(r.curves.get(key) or (), start=1):
                    rows.append(
                        {
                            "dataset": ds,
                            "model": r.model,
                            "seed": int(r.seed),
                            "key": key,
                            "epoch": epoch,
                            "value": float(value),
                        }
                    )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS), keys


# ------------------------------------------------------------------------- importance maps
@dataclass
class ImportanceMap:
    """A few test sequences of one dataset, each model's importance over positions.

    Attributes
    ----------
    dataset, seed : where the sequences come from (the first seed with importance)
    models : model labels, one heat-map row each
    example_ids : test example id of each sequence shown
    heat : float64 (n_examples, n_models, L), each row scaled to [0, 1] (min-max; flat rows 0)
    motif_spans : per example, ``[start, stop)`` of each planted motif run; None without a mask
    tss : per example, the TSS position; None without a TSS annotation
    """

    dataset: str
    seed: int
    models: list[str]
    example_ids: list[str]
    heat: np.ndarray
    motif_spans: list[list[tuple[int, int]]] | None = None
    tss: list[int] | None = None

    def describe(self) -> dict[str, Any]:
        """Everything except ``heat``, as JSON-ready data."""
        return {
            "dataset": self.dataset,
            "seed": self.seed,
            "models": list(self.models),
            "example_ids": list(self.example_ids),
            "motif_spans": self.motif_spans,
            "tss": self.tss,
        }

    @classmethod
    def from_description(cls, data: dict[str, Any], heat: np.ndarray) -> ImportanceMap:
        spans = data.get("motif_spans")
        return cls(
            dataset=data["dataset"],
            seed=int(data["seed"]),
            models=list(data["models"]),
            example_ids=list(data["example_ids"]),
            heat=heat,
            motif_spans=None if spans is None else [[(a, b) for a, b in ex] for ex in spans],
            tss=data.get("tss"),
        )


def runs_of(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in a bool (L,) array."""
    edges = np.diff(np.r_[0, np.asarray(flags, dtype=np.int8), 0])
    return [
        (int(a), int(b))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    ]


def example_rows(record: DatasetRecord, rows: np.ndarray) -> np.ndarray:
    """Which of the analysed test ``rows`` to show: positions into ``rows``, the first
    :data:`MAX_EXAMPLES`, those with a planted motif first."""
    mask = record.test.annotations.get("motif_mask")
    candidates = np.arange(len(rows))
    if mask is not None:
        with_motif = candidates[np.asarray(mask)[rows].any(axis=1)]
        if len(with_motif):
            candidates = with_motif
    return candidates[:MAX_EXAMPLES]


def scaled_rows(heat: np.ndarray) -> np.ndarray:
    """Each row min-max scaled to [0, 1]; a flat row becomes 0. (m, L) -> (m, L) float64."""
    heat = np.asarray(heat, dtype=np.float64)
    span = np.ptp(heat, axis=1, keepdims=True)
    return np.divide(
        heat - heat.min(axis=1, keepdims=True), span, out=np.zeros_like(heat), where=span > 0
    )


def importance_map(ix: StudyIndex, ds: str) -> ImportanceMap | None:
    """The importance map of ``ds`` (the first seed's runs, on the rows they analysed), or None
    when no run recorded importance on a known split."""
    shared = shared_runs(ix, ds)
    if shared is None:
        return None
    seed = shared.runs[0].seed
    models = [
        (r.model, imp)
        for r, imp in zip(shared.runs, shared.importance, strict=True)
        if r.seed == seed
    ]
    record = shared.record
    shown = example_rows(record, shared.rows)
    rows = shared.rows[shown]
    mask = record.test.annotations.get("motif_mask")
    tss = record.test.annotations.get("tss_index")
    heat = [scaled_rows(np.vstack([imp[i] for _, imp in models])) for i in shown]
    return ImportanceMap(
        dataset=ds,
        seed=int(seed),
        models=[m for m, _ in models],
        example_ids=[str(record.test.ids[row]) for row in rows],
        heat=np.stack(heat) if heat else np.zeros((0, len(models), record.length)),
        motif_spans=None if mask is None else [runs_of(np.asarray(mask)[row]) for row in rows],
        tss=None if tss is None else [int(np.asarray(tss)[row]) for row in rows],
    )


def importance_maps(ix: StudyIndex) -> list[ImportanceMap]:
    """One :class:`ImportanceMap` per dataset that has importance, in the study's order."""
    return [m for m in (importance_map(ix, ds) for ds in ix.datasets) if m is not None]
