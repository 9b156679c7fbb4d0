"""The report's figures, drawn from an Analysis' data with matplotlib (Agg, no pyplot state).

Each function takes plain data already computed by :mod:`harness.analysis` and returns a
:class:`~harness.report.blocks.Plot` (a PNG and its caption); nothing here computes a statistic.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from harness.analysis.headline import CEILING_ROW, CONSTANT_ROW
from harness.analysis.promoters import TATA_WINDOW
from harness.analysis.sweeps import Sweep
from harness.analysis.traces import ImportanceMap
from harness.report.blocks import Plot, fmt, slug

ABLATION_STYLES = {
    "high_to_low": ("#C44E52", "-"),
    "low_to_high": ("#55A868", "-"),
    "random": ("grey", "--"),
}


def png_bytes(fig: Figure) -> bytes:
    """Render a matplotlib Figure with the Agg canvas (no pyplot, no global backend state)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return buf.getvalue()


def colors(labels: Sequence[str]) -> dict[str, Any]:
    """One tab10 colour per label, by position (the same model keeps its colour in a dataset)."""
    cmap = colormaps["tab10"]
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


def results_plot(
    ds: str, metric: str, rows: pd.DataFrame, constant: float, ceiling: float | None
) -> Plot:
    """Bar chart of one metric per model with its 95% CI and the constant / ceiling lines.

    Parameters
    ----------
    rows : summary rows of ``ds`` and ``metric`` (model, mean, ci_lo, ci_hi), in bar order
    constant : the constant predictor's score (no line when NaN)
    ceiling : the noise ceiling, None when the dataset has none for ``metric``
    """
    fig = Figure(layout="constrained", figsize=(max(4.0, 0.8 * len(rows) + 2), 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    means = rows["mean"].to_numpy(dtype=float)
    err = np.vstack(
        [means - rows["ci_lo"].to_numpy(dtype=float), rows["ci_hi"].to_numpy(dtype=float) - means]
    )
    ax.bar(x, means, color="#4C72B0")
    ax.errorbar(x, means, yerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3)
    if np.isfinite(constant):
        ax.axhline(constant, color="grey", ls="--", label="constant predictor")
    if ceiling is not None:
        ax.axhline(ceiling, color="#C44E52", ls=":", label="noise ceiling")
    ax.set_xticks(x, rows["model"].tolist(), rotation=30, ha="right")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"{ds}: {metric}, mean and 95% CI over seeds")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return Plot(slug("results", ds), png_bytes(fig), f"{ds}: test {metric} by model")


def sweep_plot(
    sweep: Sweep, metric: str, rows: pd.DataFrame, models: Sequence[str], note: str = ""
) -> Plot:
    """The metric against the swept param: one line per model with its 95% CI as error bars, the
    noise ceiling dotted and the constant predictor (chance) dashed at each value.

    Parameters
    ----------
    sweep : the datasets and the param they differ in
    rows : :func:`harness.analysis.sweeps.sweep_rows` of ``sweep`` on ``metric`` (value, model,
        mean, ci_lo, ci_hi), framing rows included; a NaN interval (one seed) draws no bar
    models : the model labels, in line (and colour) order
    note : appended to the caption (e.g. that some points have no interval)
    """
    palette = colors(models)
    fig = Figure(layout="constrained", figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    for model in models:
        line = rows[rows["model"] == model]
        x, mean = line["value"].to_numpy(dtype=float), line["mean"].to_numpy(dtype=float)
        err = np.vstack(
            [mean - line["ci_lo"].to_numpy(float), line["ci_hi"].to_numpy(float) - mean]
        )
        ax.errorbar(
            x,
            mean,
            yerr=np.nan_to_num(err),
            color=palette[model],
            marker="o",
            capsize=3,
            label=model,
        )
    # the same styles as the results plot: constant predictor grey dashed, ceiling red dotted
    for label, color, style in ((CEILING_ROW, "#C44E52", ":"), (CONSTANT_ROW, "grey", "--")):
        bound = rows[rows["model"] == label]
        if bound["mean"].notna().any():
            name = "constant predictor (chance)" if label == CONSTANT_ROW else label
            ax.plot(bound["value"], bound["mean"], color=color, ls=style, lw=1.2, label=name)
    if sweep.log_scale:
        ax.set_xscale("log")
        ax.minorticks_off()  # the ticks are the values themselves
    ax.set_xticks([float(v) for v in sweep.values], [fmt(v) for v in sweep.values])
    ax.set_xlabel(sweep.axis_label)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"{sweep.adapter}: test {metric} vs {sweep.param}", fontsize=10)
    # outside the axes: lines of several models cross the whole width, so no corner is free
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return Plot(
        slug("sweep", sweep.param, sweep.datasets[0]),
        png_bytes(fig),
        f"{', '.join(sweep.datasets)}: test {metric} vs {sweep.axis_label}, mean and 95% CI "
        "over seeds per model; noise ceiling dotted, constant predictor dashed"
        + (f"; {note}" if note else ""),
    )


def curves_plot(ds: str, keys: Sequence[str], curves: pd.DataFrame, models: Sequence[str]) -> Plot:
    """One panel per series (``keys``), one line per (model, seed).

    Parameters
    ----------
    curves : long rows of ``ds`` (model, seed, key, epoch, value), runs in drawing order
    models : the dataset's model labels (fixes each model's colour)
    """
    palette = colors(models)
    runs = list(dict.fromkeys(zip(curves["model"], curves["seed"], strict=True)))
    fig = Figure(layout="constrained", figsize=(4.2 * len(keys), 3.2))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        of_key = curves[curves["key"] == key]
        seen: set[str] = set()
        for model, seed in runs:
            line = of_key[(of_key["model"] == model) & (of_key["seed"] == seed)]
            if line.empty:
                continue
            y = line["value"].tolist()
            ax.plot(
                line["epoch"].to_numpy(),
                y,
                marker="." if len(y) < 3 else None,
                color=palette[model],
                alpha=0.8,
                label=None if model in seen else model,
            )
            seen.add(model)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.set_title(f"{ds}: {key}")
        if i == 0:
            ax.legend(fontsize=7)
    return Plot(
        slug("curves", ds),
        png_bytes(fig),
        f"{ds}: per-epoch validation metric and losses, one line per seed",
    )


def _outline_motifs(ax: Any, spans: Sequence[tuple[int, int]], height: int) -> None:
    for start, stop in spans:
        ax.add_patch(
            Rectangle(
                (start - 0.5, -0.5), stop - start, height, fill=False, edgecolor="red", lw=1.5
            )
        )


def importance_plot(m: ImportanceMap) -> Plot:
    """Heat map of each model's scaled importance for each example sequence of ``m``."""
    n_models, n_rows = len(m.models), len(m.example_ids)
    fig = Figure(layout="constrained", figsize=(10, 1.0 + 0.35 * n_models * n_rows + 0.4 * n_rows))
    ax = None
    for i, example in enumerate(m.example_ids):
        ax = fig.add_subplot(n_rows, 1, i + 1)
        heat = m.heat[i]
        ax.imshow(
            heat,
            aspect="auto",
            cmap="viridis",
            interpolation="nearest",
            extent=(-0.5, heat.shape[1] - 0.5, n_models - 0.5, -0.5),
        )
        ax.set_yticks(range(n_models), list(m.models), fontsize=7)
        if m.motif_spans is not None:
            _outline_motifs(ax, m.motif_spans[i], n_models)
        if m.tss is not None:
            ax.axvline(m.tss[i], color="white", ls="--", lw=1.2)
        ax.set_title(f"{m.dataset}, test example {example} (seed {m.seed})", fontsize=8)
    if ax is not None:
        ax.set_xlabel("position")
    marks = []
    if m.motif_spans is not None:
        marks.append("planted motifs outlined red")
    if m.tss is not None:
        marks.append("TSS dashed white")
    caption = f"{m.dataset}: per-position importance (each row scaled to [0, 1])" + (
        f"; {', '.join(marks)}" if marks else ""
    )
    return Plot(slug("importance", m.dataset), png_bytes(fig), caption)


def tss_plot(ds: str, profile: pd.DataFrame, models: Sequence[str]) -> Plot:
    """Mean relative importance by offset from the TSS, one line per model.

    Parameters
    ----------
    profile : long rows of ``ds`` (model, offset, mean_relative_importance)
    models : the dataset's model labels (fixes each model's colour)
    """
    palette = colors(models)
    fig = Figure(layout="constrained", figsize=(8, 3.2))
    ax = fig.add_subplot()
    for model in dict.fromkeys(profile["model"]):
        line = profile[profile["model"] == model]
        ax.plot(
            line["offset"].to_numpy(),
            line["mean_relative_importance"].to_numpy(),
            color=palette[model],
            label=model,
        )
    ax.axvspan(TATA_WINDOW[0], TATA_WINDOW[1], color="orange", alpha=0.2, label="TATA window")
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.set_xlabel("position relative to TSS")
    ax.set_ylabel("importance / sequence mean")
    ax.legend(fontsize=7)
    caption = f"{ds}: mean relative importance around the TSS (positive sequences)"
    return Plot(slug("tss", ds), png_bytes(fig), caption)


def ablation_plot(ds: str, metric: str, curves: pd.DataFrame) -> Plot:
    """One panel per model: its mean masking curve for each order.

    Parameters
    ----------
    curves : long mean curves of ``ds`` (model, order, n_masked, value), models in panel order
    """
    models = list(dict.fromkeys(curves["model"]))
    cols = min(3, len(models))
    nrows = int(np.ceil(len(models) / cols))
    fig = Figure(layout="constrained", figsize=(4 * cols, 3 * nrows))
    for i, model in enumerate(models):
        ax = fig.add_subplot(nrows, cols, i + 1)
        mine = curves[curves["model"] == model]
        for order in dict.fromkeys(mine["order"]):
            line = mine[mine["order"] == order]
            color, ls = ABLATION_STYLES.get(order, ("black", "-"))
            ax.plot(
                line["n_masked"].to_numpy(),
                line["value"].to_numpy(),
                color=color,
                ls=ls,
                marker=".",
                label=order,
            )
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("positions masked")
        ax.set_ylabel(f"test {metric}")
        if i == 0:
            ax.legend(fontsize=7)
    return Plot(
        slug("ablation", ds),
        png_bytes(fig),
        f"{ds}: test {metric} as positions are masked (mean over seeds)",
    )


def leaderboard_plot(
    ranks: pd.DataFrame,
    task_ranks: pd.DataFrame,
    cd: float,
    groups: Sequence[Sequence[str]],
    alpha: float,
) -> Plot:
    """Mean rank across tasks per model (a critical-difference style diagram): one row per
    model, best on top; its rank on each task as small grey dots, its mean rank as a large one;
    the Nemenyi critical difference as a bar above and, right of the axis, one vertical bar
    per group of models no two of which differ by it.

    Parameters
    ----------
    ranks : models in row order (model, mean_rank)
    task_ranks : per task x model ranks (dataset, model, rank)
    cd : the critical difference (no bar when NaN)
    groups : model labels of each group (contiguous in mean-rank order)
    alpha : level of the critical difference (caption)
    """
    models = ranks["model"].tolist()
    row = {m: i for i, m in enumerate(models)}
    k = max(len(models), 2)
    fig = Figure(layout="constrained", figsize=(6.4, 1.2 + 0.4 * len(models)))
    ax = fig.add_subplot()
    for model in models:
        mine = task_ranks[task_ranks["model"] == model]["rank"].to_numpy(dtype=float)
        ax.scatter(mine, np.full(mine.shape, row[model]), color="grey", s=12, alpha=0.6)
    ax.scatter(ranks["mean_rank"].to_numpy(dtype=float), range(len(models)), color="#4C72B0", s=60)
    for g, members in enumerate(groups):
        ys = [row[m] for m in members if m in row]
        if ys:
            x = k + 0.3 + 0.2 * g
            ax.plot([x, x], [min(ys) - 0.15, max(ys) + 0.15], color="black", lw=3)
    if np.isfinite(cd):
        ax.plot([1, 1 + cd], [-0.8, -0.8], color="#C44E52", lw=2)
        ax.text(1 + cd / 2, -0.95, f"CD = {fmt(cd)}", ha="center", va="bottom", fontsize=8)
    ax.set_yticks(range(len(models)), models)
    ax.set_ylim(len(models) - 0.5, -1.3)  # best (row 0) on top, room for the CD bar
    ax.set_xlim(0.5, k + 0.6 + 0.2 * len(groups))
    ax.set_xticks(range(1, k + 1))
    ax.set_xlabel("rank across tasks (1 = best)")
    ax.set_title("Leaderboard: mean rank over tasks", fontsize=10)
    caption = "Rank of each model on each task (grey) and its mean rank (blue), best on top" + (
        f"; red bar: Nemenyi critical difference at alpha = {fmt(alpha)}; black bars join "
        "models whose mean ranks differ by less than it"
        if np.isfinite(cd)
        else ""
    )
    return Plot(slug("leaderboard"), png_bytes(fig), caption)
