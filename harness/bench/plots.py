"""``harness bench --plot``: time and peak memory against length, log-log, one line per model.

One row of panels per mode (inference, training step), three columns: time per batch, tensor
peak, RSS peak. A solid line is the fixed batch, a dashed one the fixed token budget; points that
did not run (``stopped``) are left out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from harness.report.plots import colors, png_bytes

PANELS = (
    ("ms_per_batch", "time per batch (ms)"),
    ("tensor_peak_mb", "tensor peak (MiB)"),
    ("rss_peak_mb", "RSS peak (MiB)"),
)
_STYLES = {"batch": "-", "budget": "--"}


def scaling_figure(frame: pd.DataFrame) -> Figure:
    """The figure of :func:`plot_scaling`; panels for columns the frame lacks are left out."""
    panels = [(c, label) for c, label in PANELS if c in frame.columns]
    modes = list(dict.fromkeys(frame["mode"])) if "mode" in frame else [None]
    fig = Figure(figsize=(4.2 * len(panels), 3.6 * len(modes)), layout="constrained")
    axes = fig.subplots(len(modes), len(panels), squeeze=False)
    palette = colors(list(dict.fromkeys(frame["model"])))
    for row, mode in zip(axes, modes, strict=True):
        rows = frame if mode is None else frame[frame["mode"] == mode]
        keys = [c for c in ("model", "setting") if c in rows.columns]
        for ax, (column, label) in zip(row, panels, strict=True):
            for values, runs in rows.groupby(keys, sort=False):
                values = values if isinstance(values, tuple) else (values,)
                name, setting = values[0], values[1] if len(values) > 1 else "batch"
                ok = runs[(runs[column] > 0) & (runs[column] < float("inf"))]
                ok = ok.sort_values("length")
                ax.plot(
                    ok["length"],
                    ok[column],
                    _STYLES.get(setting, ":"),
                    marker="o",
                    markersize=3,
                    label=name if setting == "batch" else f"{name} ({setting})",
                    color=palette[name],
                )
            title = label if mode is None else f"{mode}: {label}"
            ax.set(xscale="log", yscale="log", xlabel="sequence length (bases)", title=title)
            ax.grid(True, which="both", alpha=0.3)
        row[0].legend(fontsize=7)
    return fig


def plot_scaling(frame: pd.DataFrame, path: Path) -> Path:
    """:func:`scaling_figure` of ``frame`` (:func:`~harness.bench.speed.run_bench` rows), written
    to ``path`` as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(scaling_figure(frame)))
    return path
