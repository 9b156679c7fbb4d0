"""``harness bench --plot``: time and peak memory against length, log-log, one line per model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from harness.report.plots import colors, png_bytes


def plot_scaling(frame: pd.DataFrame, path: Path) -> Path:
    """Two log-log panels (ms per batch, peak memory MiB) against length, one line per model;
    points that did not run (out of memory) are left out. Written to ``path`` as PNG."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    palette = colors(list(dict.fromkeys(frame["model"])))
    panels = (("ms_per_batch", "time per batch (ms)"), ("peak_mem_mb", "peak memory (MiB)"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        for name, runs in frame.groupby("model", sort=False):
            ok = runs[(runs[column] > 0) & (runs[column] < float("inf"))].sort_values("length")
            ax.plot(ok["length"], ok[column], marker="o", label=name, color=palette[name])
        ax.set(xscale="log", yscale="log", xlabel="sequence length (bases)", ylabel=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig))
    return path
