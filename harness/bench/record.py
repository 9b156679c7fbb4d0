"""What a ``harness bench`` run leaves in MLflow: the plan as params, every measured figure as a
metric stepped by length, and ``bench.csv``, ``slopes.csv`` and ``scaling.png`` as artifacts.

The store itself (URI, lock, experiment) belongs to the run layer; the CLI opens it and hands
over anything with the :class:`RunLog` methods (``harness.run.tracking.Tracker`` has them).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import pandas as pd

from harness.bench.plots import scaling_figure
from harness.report.plots import png_bytes

EXPERIMENT = "bench"
FIGURES = ("ms_per_batch", "us_per_seq", "tensor_peak_mb", "rss_peak_mb")
# characters MLflow refuses in a metric name (a model spec holds ':', '=' and ',')
_NOT_IN_METRIC = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_part(text: str) -> str:
    """``text`` as part of an MLflow metric name: ``sparse_transformer:keep_tokens=1024`` ->
    ``sparse_transformer_keep_tokens_1024``."""
    return _NOT_IN_METRIC.sub("_", text)


class RunLog(Protocol):
    """The run-writing calls :func:`log_bench` needs."""

    def log_params(self, run_id: str, params: dict[str, Any]) -> None: ...

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None: ...

    def log_files(
        self, run_id: str, files: dict[str, bytes | str], artifact_dir: str = ""
    ) -> None: ...


def point_metrics(frame: pd.DataFrame) -> dict[int, dict[str, float]]:
    """Per length (the metric step), ``<figure>.<model>.<mode>.<setting>`` of every measured row,
    so the MLflow UI draws each series against length."""
    by_length: dict[int, dict[str, float]] = {}
    measured = frame[frame["stopped"].fillna("") == ""]
    for row in measured.itertuples(index=False):
        metrics = by_length.setdefault(int(row.length), {})
        series = f"{metric_part(str(row.model))}.{row.mode}.{row.setting}"
        for figure in FIGURES:
            metrics[f"{figure}.{series}"] = float(getattr(row, figure))
        metrics[f"batch_size.{series}"] = float(row.batch_size)
    return by_length


def log_bench(
    log: RunLog,
    run_id: str,
    params: dict[str, Any],
    frame: pd.DataFrame,
    slopes: pd.DataFrame,
) -> None:
    """Params, per-point metrics and the three artifacts of one bench run ``run_id``."""
    log.log_params(run_id, params)
    for length, metrics in point_metrics(frame).items():
        log.log_metrics(run_id, metrics, step=length)
    log.log_files(
        run_id,
        {
            "bench.csv": frame.to_csv(index=False),
            "slopes.csv": slopes.to_csv(index=False),
            "scaling.png": png_bytes(scaling_figure(frame)),
        },
    )
