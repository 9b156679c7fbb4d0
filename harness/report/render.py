"""The study report: a self-contained ``index.html`` and a Markdown twin ``report.md``.

Both are rendered from the same list of sections, each a list of text, table and figure blocks.
The HTML embeds every figure as a base64 PNG (no external assets); the Markdown links the same
PNGs, written to ``figures/`` beside it. Every section is always present; one with nothing to show
says ``no data: <why>``.

The Claims section shows the seed claims table (:mod:`harness.analysis.claims`) when the study
asks for it (``meta["claims"]`` truthy) or when at least one claim can be measured with the
study's models; otherwise it says why not.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from harness.analysis import motifs as motif_stats
from harness.analysis.claims import (
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    any_testable,
    claims_table,
)
from harness.analysis.stats import PRIMARY_METRICS, compare, mean_ci, summary_table
from harness.core.errors import UserError
from harness.core.metrics import LOWER_IS_BETTER, PRIMARY
from harness.core.results import DatasetRecord, RunResult
from harness.train.ablation import ORDERS, curve_area, curve_metric_name

SECTIONS = (
    "Overview",
    "Results",
    "Baselines and noise ceiling",
    "Significance",
    "Learning curves",
    "Importance maps",
    "Motif enrichment",
    "Ablation curves",
    "Compute",
    "Claims",
)
COMPUTE_FIELDS = (
    "n_params",
    "macs_per_seq",
    "train_seconds",
    "seconds_per_epoch",
    "peak_rss_mb",
    "epochs_run",
)
MAX_EXAMPLES = 3  # sequences shown in the importance maps


# ------------------------------------------------------------------------------- blocks
@dataclass
class Text:
    text: str


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Plot:
    name: str
    png: bytes
    caption: str = ""


@dataclass
class Section:
    title: str
    blocks: list[Text | Table | Plot] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    def no_data(self, why: str) -> None:
        self.blocks.append(Text(f"no data: {why}"))


@dataclass
class Context:
    """What every section builder reads."""

    study: str
    results: list[RunResult]
    records: list[DatasetRecord]
    reference: str
    meta: dict[str, Any]
    n_boot: int
    seed: int

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.results))

    def models(self, dataset: str) -> list[str]:
        return list(dict.fromkeys(r.model for r in self.results if r.dataset == dataset))

    def runs(self, dataset: str, model: str | None = None) -> list[RunResult]:
        return sorted(
            (
                r
                for r in self.results
                if r.dataset == dataset and (model is None or r.model == model)
            ),
            key=lambda r: r.seed,
        )

    def record(self, dataset: str, seed: int) -> DatasetRecord | None:
        return next((d for d in self.records if d.dataset == dataset and d.seed == seed), None)

    def task(self, dataset: str) -> str:
        return self.runs(dataset)[0].task


# ---------------------------------------------------------------------------- formatting
def fmt(x: Any) -> str:
    """A table cell: 4 significant digits, small numbers in scientific notation, NaN as —."""
    if x is None:
        return "—"
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        if not np.isfinite(x):
            return "—" if np.isnan(x) else str(x)
        if x == round(x) and 1e4 <= abs(x) < 1e15:
            return f"{x:.0f}"  # counts (parameters, MACs) read better in full
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
            return f"{x:.2e}"
        return f"{x:.4g}"
    return str(x)


def ci_cell(mean: float, lo: float, hi: float) -> str:
    """``mean [lo, hi]`` or just the mean when there is no interval."""
    if not np.isfinite(lo) or not np.isfinite(hi):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"


def png_bytes(fig: Figure) -> bytes:
    """Render a matplotlib Figure with the Agg canvas (no pyplot, no global backend state)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return buf.getvalue()


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts)).strip("_")


def _colors(labels: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


# ---------------------------------------------------------------------------- sections
def section_overview(ctx: Context) -> Section:
    sec = Section("Overview")
    if not ctx.results:
        sec.no_data("the study produced no successful runs")
        return sec
    seeds = sorted({r.seed for r in ctx.results})
    lines = [
        f"Study **{ctx.study}**: {len(ctx.datasets)} dataset(s), "
        f"{len({r.model for r in ctx.results})} model(s), seeds {seeds}. "
        f"Reference model for comparisons: **{ctx.reference}**. Test metrics are computed on "
        "each seed's test split; intervals are 95% t intervals over seeds unless stated."
    ]
    for key in ("parent_run_id", "tracking_uri"):
        if ctx.meta.get(key):
            lines.append(f"{key}: {ctx.meta[key]}")
    sec.blocks.append(Text("\n\n".join(lines)))
    rows = []
    for ds in ctx.datasets:
        recs = [d for d in ctx.records if d.dataset == ds]
        rows.append(
            {
                "dataset": ds,
                "task": ctx.task(ds),
                "length": recs[0].length if recs else np.nan,
                "test examples": recs[0].test.labels.shape[0] if recs else np.nan,
                "source": recs[0].meta.get("source", "") if recs else "",
                "seeds": len({r.seed for r in ctx.runs(ds)}),
            }
        )
    sec.blocks.append(Table(pd.DataFrame(rows), "Datasets"))
    rows = []
    for model in dict.fromkeys(r.model for r in ctx.results):
        runs = [r for r in ctx.results if r.model == model]
        rows.append(
            {
                "model": model,
                "registered name": runs[0].model_name,
                "params": json.dumps(runs[0].params, sort_keys=True, default=str),
                "runs": len(runs),
            }
        )
    sec.blocks.append(Table(pd.DataFrame(rows), "Models (params as resolved)"))
    return sec


def _ceiling(ctx: Context, dataset: str) -> dict[str, float]:
    ceilings = [d.meta.get("noise_ceiling") or {} for d in ctx.records if d.dataset == dataset]
    keys = {k for c in ceilings for k in c}
    return {k: float(np.nanmean([c.get(k, np.nan) for c in ceilings])) for k in keys}


def section_results(ctx: Context, summary: pd.DataFrame) -> Section:
    sec = Section("Results")
    if summary.empty:
        sec.no_data("no successful runs")
        return sec
    sec.blocks.append(
        Text(
            "Test metrics per dataset and model: mean over seeds with the 95% t "
            "interval in brackets. The constant predictor (training mean / class "
            "frequency) and, for synthetic data, the noise ceiling (the noiseless "
            "label against the noisy one: no model can beat it) frame each column."
        )
    )
    for ds in ctx.datasets:
        task = ctx.task(ds)
        metrics = list(PRIMARY_METRICS.get(task, ()))
        sub = summary[(summary["dataset"] == ds) & summary["metric"].isin(metrics)]
        rows = []
        for model in ctx.models(ds):
            m = sub[sub["model"] == model]
            cells = {r.metric: ci_cell(r.mean, r.ci_lo, r.ci_hi) for r in m.itertuples()}
            kind = (
                "k-mer baseline"
                if ctx.runs(ds, model)[0].model_name == "kmer_logreg"
                else ("reference" if model == ctx.reference else "model")
            )
            rows.append(
                {
                    "model": model,
                    "kind": kind,
                    **{k: cells.get(k, "—") for k in metrics},
                    "seeds": int(m["n_seeds"].max()) if len(m) else 0,
                }
            )
        base = sub.groupby("metric")["baseline_mean"].mean()
        rows.append(
            {
                "model": "constant predictor",
                "kind": "baseline",
                **{k: fmt(base.get(k, np.nan)) for k in metrics},
                "seeds": "",
            }
        )
        ceiling = _ceiling(ctx, ds)
        if ceiling:
            rows.append(
                {
                    "model": "noise ceiling",
                    "kind": "ceiling",
                    **{k: fmt(ceiling.get(k, np.nan)) for k in metrics},
                    "seeds": "",
                }
            )
        sec.blocks.append(Table(pd.DataFrame(rows), f"{ds} ({task})"))
        sec.blocks.append(_results_plot(ds, task, sub, base, ceiling))
    return sec


def _results_plot(ds: str, task: str, sub: pd.DataFrame, base: pd.Series, ceiling: dict) -> Plot:
    metric = PRIMARY.get(task, "accuracy")
    rows = sub[sub["metric"] == metric]
    fig = Figure(layout="constrained", figsize=(max(4.0, 0.8 * len(rows) + 2), 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    means = rows["mean"].to_numpy(dtype=float)
    err = np.vstack(
        [means - rows["ci_lo"].to_numpy(dtype=float), rows["ci_hi"].to_numpy(dtype=float) - means]
    )
    ax.bar(x, means, color="#4C72B0")
    ax.errorbar(x, means, yerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3)
    if np.isfinite(base.get(metric, np.nan)):
        ax.axhline(base[metric], color="grey", ls="--", label="constant predictor")
    if metric in ceiling:
        ax.axhline(ceiling[metric], color="#C44E52", ls=":", label="noise ceiling")
    ax.set_xticks(x, rows["model"].tolist(), rotation=30, ha="right")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"{ds}: {metric}, mean and 95% CI over seeds")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return Plot(_slug("results", ds), png_bytes(fig), f"{ds}: test {metric} by model")


def _beats(metric: str, lo: float, hi: float, mean: float, other: float) -> bool | float:
    if not np.isfinite(other):
        return float("nan")
    if metric in LOWER_IS_BETTER:
        return bool((hi if np.isfinite(hi) else mean) < other)
    return bool((lo if np.isfinite(lo) else mean) > other)


def section_baselines(ctx: Context, summary: pd.DataFrame) -> Section:
    sec = Section("Baselines and noise ceiling")
    if summary.empty:
        sec.no_data("no successful runs")
        return sec
    sec.blocks.append(
        Text(
            "A model is only interesting if it beats the weak baselines: the constant predictor "
            "(always) and the k-mer logistic/ridge model (`kmer_logreg`, when the study has it). "
            "'beats' means the whole 95% CI over seeds lies on the better side of the baseline's "
            "mean. The noise ceiling bounds what any model can reach on synthetic data."
        )
    )
    any_kmer = False
    for ds in ctx.datasets:
        metric = PRIMARY.get(ctx.task(ds), "accuracy")
        sub = summary[(summary["dataset"] == ds) & (summary["metric"] == metric)]
        kmer = [m for m in ctx.models(ds) if ctx.runs(ds, m)[0].model_name == "kmer_logreg"]
        any_kmer |= bool(kmer)
        kmer_mean = float(sub[sub["model"] == kmer[0]]["mean"].iloc[0]) if kmer else np.nan
        ceiling = _ceiling(ctx, ds).get(metric, np.nan)
        rows = []
        for r in sub.itertuples():
            rows.append(
                {
                    "model": r.model,
                    metric: ci_cell(r.mean, r.ci_lo, r.ci_hi),
                    "constant": r.baseline_mean,
                    "beats constant": _beats(metric, r.ci_lo, r.ci_hi, r.mean, r.baseline_mean),
                    "k-mer": kmer_mean,
                    "beats k-mer": _beats(metric, r.ci_lo, r.ci_hi, r.mean, kmer_mean)
                    if r.model not in kmer
                    else float("nan"),
                    "noise ceiling": ceiling,
                    "share of ceiling": r.mean / ceiling
                    if np.isfinite(ceiling) and ceiling
                    else np.nan,
                }
            )
        sec.blocks.append(Table(pd.DataFrame(rows), f"{ds}: primary metric {metric}"))
    if not any_kmer:
        sec.blocks.append(Text("no k-mer baseline: the study has no `kmer_logreg` model."))
    return sec


def section_significance(ctx: Context) -> tuple[Section, pd.DataFrame]:
    sec = Section("Significance")
    correction = str(ctx.meta.get("correction", "holm"))
    try:
        frame = compare(
            ctx.results, ctx.reference, correction=correction, n_boot=ctx.n_boot, seed=ctx.seed
        )
    except UserError as err:
        sec.no_data(str(err))
        return sec, pd.DataFrame()
    if frame.empty:
        sec.no_data(f"no model shares a dataset and seed with the reference {ctx.reference!r}")
        return sec, frame
    sec.blocks.append(
        Text(
            f"Each model against the reference **{ctx.reference}**, per primary metric. "
            "`diff` is the mean over seeds of model minus reference with its t interval; "
            "`t p` and `Wilcoxon p` test it over seeds (Wilcoxon cannot reach 0.05 with fewer "
            "than 6 seeds). The example-level test compares the two models on the same test "
            "examples of each seed (exact McNemar for accuracy, DeLong for AUROC, paired "
            "bootstrap otherwise); its p is the largest over seeds (the difference must hold in "
            "every seed). Retention is model / reference (reference / model for MSE) with a "
            "two-level bootstrap CI, next to the constant predictor's retention (blank where the "
            "reference is no better than the constant predictor on that metric). All p-values "
            f"are {correction}-adjusted across the whole study; `significant` uses the adjusted "
            "example-level p < 0.05."
        )
    )
    shown = pd.DataFrame(
        {
            "dataset": frame["dataset"],
            "model": frame["model"],
            "metric": frame["metric"],
            "model mean": frame["model_mean"],
            "reference mean": frame["ref_mean"],
            "diff [95% CI]": [
                ci_cell(*v)
                for v in frame[["diff", "diff_ci_lo", "diff_ci_hi"]].to_numpy(dtype=float)
            ],
            "t p (adj)": frame["t_p_adj"],
            "Wilcoxon p (adj)": frame["wilcoxon_p_adj"],
            "example test": frame["example_test"],
            "example p (adj)": frame["example_p_adj"],
            "retention [95% CI]": [
                ci_cell(*v)
                for v in frame[["retention", "retention_lo", "retention_hi"]].to_numpy(dtype=float)
            ],
            "constant retention": frame["const_retention"],
            "significant": frame["significant"],
        }
    )
    sec.blocks.append(Table(shown, f"Comparisons with {ctx.reference} ({len(frame)} tests)"))
    return sec, frame


def section_learning_curves(ctx: Context) -> Section:
    sec = Section("Learning curves")
    for ds in ctx.datasets:
        runs = [r for r in ctx.runs(ds) if r.curves]
        if not runs:
            continue
        metric = f"val_{PRIMARY.get(ctx.task(ds), 'accuracy')}"
        keys = [k for k in (metric, "val_loss", "train_loss") if any(k in r.curves for r in runs)]
        if not keys:
            continue
        colors = _colors(ctx.models(ds))
        fig = Figure(layout="constrained", figsize=(4.2 * len(keys), 3.2))
        for i, key in enumerate(keys):
            ax = fig.add_subplot(1, len(keys), i + 1)
            seen: set[str] = set()
            for r in runs:
                y = r.curves.get(key)
                if not y:
                    continue
                ax.plot(
                    np.arange(1, len(y) + 1),
                    y,
                    marker="." if len(y) < 3 else None,
                    color=colors[r.model],
                    alpha=0.8,
                    label=None if r.model in seen else r.model,
                )
                seen.add(r.model)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(key)
            ax.set_title(f"{ds}: {key}")
            if i == 0:
                ax.legend(fontsize=7)
        sec.blocks.append(
            Plot(
                _slug("curves", ds),
                png_bytes(fig),
                f"{ds}: per-epoch validation metric and losses, one line per seed",
            )
        )
    if not sec.blocks:
        sec.no_data("no run recorded per-epoch curves")
    return sec


def _runs_of(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in a bool (L,) array."""
    edges = np.diff(np.r_[0, np.asarray(flags, dtype=np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _example_rows(record: DatasetRecord, n_imp: int) -> np.ndarray:
    mask = record.test.annotations.get("motif_mask")
    candidates = np.arange(min(n_imp, len(record.test)))
    if mask is not None:
        with_motif = candidates[np.asarray(mask)[candidates].any(axis=1)]
        if len(with_motif):
            candidates = with_motif
    return candidates[:MAX_EXAMPLES]


def section_importance(ctx: Context) -> Section:
    sec = Section("Importance maps")
    for ds in ctx.datasets:
        runs = [r for r in ctx.runs(ds) if r.importance is not None and len(r.importance)]
        if not runs:
            continue
        seed = runs[0].seed
        record = ctx.record(ds, seed)
        runs = [r for r in runs if r.seed == seed]
        if record is None:
            continue
        n_imp = min(len(r.importance) for r in runs)
        rows = _example_rows(record, n_imp)
        mask = record.test.annotations.get("motif_mask")
        tss = record.test.annotations.get("tss_index")
        fig = Figure(
            layout="constrained", figsize=(10, 1.0 + 0.35 * len(runs) * len(rows) + 0.4 * len(rows))
        )
        for i, row in enumerate(rows):
            ax = fig.add_subplot(len(rows), 1, i + 1)
            heat = np.vstack([np.asarray(r.importance[row], dtype=np.float64) for r in runs])
            span = np.ptp(heat, axis=1, keepdims=True)
            heat = np.divide(
                heat - heat.min(axis=1, keepdims=True),
                span,
                out=np.zeros_like(heat),
                where=span > 0,
            )
            ax.imshow(
                heat,
                aspect="auto",
                cmap="viridis",
                interpolation="nearest",
                extent=(-0.5, heat.shape[1] - 0.5, len(runs) - 0.5, -0.5),
            )
            ax.set_yticks(range(len(runs)), [r.model for r in runs], fontsize=7)
            if mask is not None:
                for start, stop in _runs_of(np.asarray(mask)[row]):
                    ax.add_patch(
                        Rectangle(
                            (start - 0.5, -0.5),
                            stop - start,
                            len(runs),
                            fill=False,
                            edgecolor="red",
                            lw=1.5,
                        )
                    )
            if tss is not None:
                ax.axvline(int(np.asarray(tss)[row]), color="white", ls="--", lw=1.2)
            ax.set_title(f"{ds}, test example {record.test.ids[row]} (seed {seed})", fontsize=8)
        ax.set_xlabel("position")
        marks = []
        if mask is not None:
            marks.append("planted motifs outlined red")
        if tss is not None:
            marks.append("TSS dashed white")
        caption = f"{ds}: per-position importance (each row scaled to [0, 1])" + (
            f"; {', '.join(marks)}" if marks else ""
        )
        sec.blocks.append(Plot(_slug("importance", ds), png_bytes(fig), caption))
    if not sec.blocks:
        sec.no_data("no run recorded per-position importance")
    return sec


def _planted_tables(ctx: Context, ds: str) -> list[Table]:
    rows, recovery = [], []
    for model in ctx.models(ds):
        per_seed, rec_frames = [], []
        for r in ctx.runs(ds, model):
            record = ctx.record(ds, r.seed)
            if r.importance is None or record is None:
                continue
            m = len(r.importance)
            mask = np.asarray(record.test.annotations["motif_mask"])[:m]
            per_seed.append(motif_stats.planted_enrichment(r.importance, mask))
            if "motif_id" in record.test.annotations:
                rec_frames.append(
                    motif_stats.motif_recovery(
                        r.importance,
                        mask,
                        np.asarray(record.test.annotations["motif_id"])[:m],
                        record.meta.get("motifs"),
                    )
                )
        if not per_seed:
            continue
        row: dict[str, Any] = {"model": model, "seeds": len(per_seed)}
        for key in ("precision", "recall", "fold_enrichment", "auroc"):
            row[key] = ci_cell(*mean_ci([e[key] for e in per_seed]))
        row["chance precision"] = float(np.nanmean([e["chance_precision"] for e in per_seed]))
        row["hypergeom p (max over seeds)"] = float(np.nanmax([e["hypergeom_p"] for e in per_seed]))
        rows.append(row)
        if rec_frames:
            joined = pd.concat(rec_frames).groupby("motif")["recovery"].mean()
            recovery.append({"model": model, **joined.to_dict()})
    tables = []
    if rows:
        tables.append(
            Table(
                pd.DataFrame(rows),
                f"{ds}: top-k positions (k = planted positions "
                f"per sequence) against the planted motifs",
            )
        )
    if recovery:
        tables.append(
            Table(
                pd.DataFrame(recovery),
                f"{ds}: recovery per motif (share of its "
                f"planted positions in the top-k), mean over "
                "seeds",
            )
        )
    return tables


def _promoter_blocks(ctx: Context, ds: str) -> list[Text | Table | Plot]:
    q = float(ctx.meta.get("enrichment_q", 0.1))
    colors = _colors(ctx.models(ds))
    fig = Figure(layout="constrained", figsize=(8, 3.2))
    ax = fig.add_subplot()
    frames = []
    for model in ctx.models(ds):
        imps, toks, tss = [], [], []
        for r in ctx.runs(ds, model):
            record = ctx.record(ds, r.seed)
            if r.importance is None or record is None:
                continue
            m = len(r.importance)
            imps.append(np.asarray(r.importance, dtype=np.float64))
            toks.append(record.test.tokens[:m])
            tss.append(np.asarray(record.test.annotations["tss_index"])[:m])
        if not imps:
            continue
        imp, tok, ts = np.concatenate(imps), np.concatenate(toks), np.concatenate(tss)
        prof = motif_stats.tss_profile(imp, ts)
        ax.plot(prof["offset"], prof["mean_relative_importance"], color=colors[model], label=model)
        enr = motif_stats.promoter_enrichment(imp, tok, ts, q=q)
        enr.insert(0, "model", model)
        frames.append(enr)
    if not frames:
        return []
    ax.axvspan(
        motif_stats.TATA_WINDOW[0],
        motif_stats.TATA_WINDOW[1],
        color="orange",
        alpha=0.2,
        label="TATA window",
    )
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.set_xlabel("position relative to TSS")
    ax.set_ylabel("importance / sequence mean")
    ax.legend(fontsize=7)
    return [
        Plot(_slug("tss", ds), png_bytes(fig), f"{ds}: mean relative importance around the TSS"),
        Table(
            pd.concat(frames, ignore_index=True),
            f"{ds}: top {q:.0%} vs bottom {q:.0%} importance positions in the TATA window and "
            "in TBP hits (Fisher exact)",
        ),
    ]


def _jaspar_blocks(ctx: Context, ds: str) -> list[Text | Table | Plot]:
    q = float(ctx.meta.get("enrichment_q", 0.1))
    max_seqs = int(ctx.meta.get("enrichment_max_sequences", 300))
    runs = [r for r in ctx.runs(ds) if r.importance is not None and len(r.importance)]
    if not runs:
        return []
    seed = runs[0].seed
    record = ctx.record(ds, seed)
    if record is None:
        return []
    n = min(max_seqs, min(len(r.importance) for r in runs if r.seed == seed))
    tokens = record.test.tokens[:n]
    try:
        chosen = motif_stats.select_motifs(
            motif_stats.jaspar_motifs(),
            ids=ctx.meta.get("jaspar_ids", motif_stats.PROMOTER_MOTIFS),
            top_n=int(ctx.meta.get("jaspar_top_n", 8)),
        )
        scanned = motif_stats.scan_motifs(tokens, chosen)
    except Exception as err:  # an unusable JASPAR install should not sink the whole report
        return [Text(f"no data: JASPAR scan of {ds} failed ({type(err).__name__}: {err})")]
    valid = motif_stats.valid_positions(tokens)
    frames = []
    for r in runs:
        if r.seed != seed:
            continue
        enr = motif_stats.hits_enrichment(r.importance[:n], scanned, valid, q)
        enr.insert(0, "model", r.model)
        frames.append(enr.head(5))
    return [
        Table(
            pd.concat(frames, ignore_index=True),
            f"{ds} (seed {seed}, {n} test sequences, {len(chosen)} JASPAR 2024 CORE "
            f"vertebrate motifs): top {q:.0%} vs bottom {q:.0%} importance positions in "
            "motif hits (p < 1e-4), Fisher exact, BH-adjusted; best 5 motifs per model",
        )
    ]


def section_enrichment(ctx: Context) -> Section:
    sec = Section("Motif enrichment")
    for ds in ctx.datasets:
        if not any(r.importance is not None for r in ctx.runs(ds)):
            continue
        recs = [d for d in ctx.records if d.dataset == ds]
        annotations = recs[0].test.annotations if recs else {}
        if "motif_mask" in annotations:
            sec.blocks.extend(_planted_tables(ctx, ds))
            continue
        if "tss_index" in annotations:
            sec.blocks.extend(_promoter_blocks(ctx, ds))
        if recs and ctx.meta.get("jaspar", True):
            sec.blocks.extend(_jaspar_blocks(ctx, ds))
    if not sec.blocks:
        sec.no_data(
            "no run recorded per-position importance on a dataset with planted motifs, "
            "a TSS annotation or real sequences to scan"
        )
    return sec


def _mean_curves(runs: Sequence[RunResult]) -> dict[str, np.ndarray] | None:
    curves = [r.ablation for r in runs if len(r.ablation.get("n_masked", ()))]
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


def section_ablation(ctx: Context) -> Section:
    sec = Section("Ablation curves")
    styles = {
        "high_to_low": ("#C44E52", "-"),
        "low_to_high": ("#55A868", "-"),
        "random": ("grey", "--"),
    }
    for ds in ctx.datasets:
        models = [m for m in ctx.models(ds) if _mean_curves(ctx.runs(ds, m))]
        if not models:
            continue
        name = curve_metric_name(ctx.task(ds))
        cols = min(3, len(models))
        nrows = int(np.ceil(len(models) / cols))
        fig = Figure(layout="constrained", figsize=(4 * cols, 3 * nrows))
        rows = []
        for i, model in enumerate(models):
            runs = ctx.runs(ds, model)
            mean = _mean_curves(runs)
            ax = fig.add_subplot(nrows, cols, i + 1)
            for order in ORDERS:
                if order in mean:
                    color, ls = styles[order]
                    ax.plot(
                        mean["n_masked"], mean[order], color=color, ls=ls, marker=".", label=order
                    )
            ax.set_title(model, fontsize=9)
            ax.set_xlabel("positions masked")
            ax.set_ylabel(f"test {name}")
            if i == 0:
                ax.legend(fontsize=7)
            with_curves = [r for r in runs if len(r.ablation.get("n_masked", ()))]
            areas = {
                o: [
                    curve_area(r.ablation["n_masked"], r.ablation[o])
                    for r in with_curves
                    if o in r.ablation
                ]
                for o in ORDERS
            }
            gap = [a - b for a, b in zip(areas["random"], areas["high_to_low"], strict=False)]
            rows.append(
                {
                    "model": model,
                    "metric": name,
                    "seeds": len(with_curves),
                    "unmasked": float(
                        np.nanmean([r.ablation["high_to_low"][0] for r in with_curves])
                    ),
                    **{
                        f"area {o}": float(np.nanmean(areas[o])) if areas[o] else np.nan
                        for o in ORDERS
                    },
                    "random − high_to_low [95% CI]": ci_cell(*mean_ci(gap)),
                }
            )
        sec.blocks.append(
            Plot(
                _slug("ablation", ds),
                png_bytes(fig),
                f"{ds}: test {name} as positions are masked (mean over seeds)",
            )
        )
        sec.blocks.append(
            Table(
                pd.DataFrame(rows),
                f"{ds}: mean {name} over each curve ('area'); a positive "
                "random − high_to_low gap means the importance ranking finds "
                "positions the model needs",
            )
        )
    if not sec.blocks:
        sec.no_data(
            "no run recorded masking curves (evaluation.ablation_steps = 0, or only "
            "multiclass datasets)"
        )
    return sec


def section_compute(ctx: Context) -> Section:
    sec = Section("Compute")
    rows = []
    for ds in ctx.datasets:
        for model in ctx.models(ds):
            runs = ctx.runs(ds, model)
            row: dict[str, Any] = {"dataset": ds, "model": model}
            for key in COMPUTE_FIELDS:
                values = [r.compute[key] for r in runs if key in r.compute]
                row[key] = float(np.mean(values)) if values else np.nan
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty or frame[list(COMPUTE_FIELDS)].isna().all().all():
        sec.no_data("no run recorded compute figures")
        return sec
    sec.blocks.append(
        Text(
            "Means over seeds. `macs_per_seq` is the analytic multiply-accumulate "
            "count for one sequence at inference; `peak_rss_mb` is the process's "
            "peak so far, an upper bound for that run."
        )
    )
    sec.blocks.append(Table(frame, "Compute per dataset and model"))
    return sec


def section_claims(ctx: Context) -> tuple[Section, pd.DataFrame]:
    sec = Section("Claims")
    table = claims_table(ctx.results, ctx.records, n_boot=ctx.n_boot, seed=ctx.seed)
    if not (ctx.meta.get("claims") or any_testable(table)):
        sec.no_data(
            "the study did not ask for the seed claims (report.claims: false) and has none "
            "of the models they need (attention with sparse_attention, teacher_student, "
            "attngen)"
        )
        return sec, table
    counts = table["verdict"].value_counts()
    sec.blocks.append(
        Text(
            f"Each numeric claim of the seed texts, measured here: {counts.get(SUPPORTED, 0)} "
            f"supported, {counts.get(NOT_SUPPORTED, 0)} not supported, "
            f"{counts.get(NOT_TESTABLE, 0)} not testable with this study. 'constant' is the "
            "constant predictor's (or chance's) value where the claim is judged against a weak "
            "baseline; 'basis' says what was measured. Verdict rules: docs/report.md."
        )
    )
    shown = pd.DataFrame(
        {
            "claim": table["claim"],
            "source": table["source"],
            "claimed": table["claimed"],
            "measured [95% CI]": [
                ci_cell(*v) for v in table[["measured", "ci_lo", "ci_hi"]].to_numpy(dtype=float)
            ],
            "constant": table["constant"],
            "verdict": table["verdict"],
            "why": table["why"],
            "basis": table["basis"],
        }
    )
    sec.blocks.append(Table(shown, "Seed claims"))
    return sec, table


# ------------------------------------------------------------------------------ rendering
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;color:#222;line-height:1.45;padding:0 1rem}
h1{border-bottom:2px solid #4C72B0}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8rem 0;font-size:.82rem}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f9}tr:nth-child(even) td{background:#fafafa}
td.supported{background:#e3f4e3!important}td.not-supported{background:#fbe3e3!important}
td.not-testable-here{color:#777}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}nav a{margin-right:.8rem}.nodata{color:#999}
"""


def _inline_md(text: str) -> str:
    """Markdown ``**bold**`` and ```code``` to HTML, after escaping."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _html_table(table: Table) -> str:
    frame = table.frame
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            text = fmt(value)
            cls = (
                re.sub(r"[^a-z]+", "-", text)
                if text in (SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE)
                else ""
            )
            cells.append(
                f'<td class="{cls}">{html.escape(text)}</td>'
                if cls
                else f"<td>{html.escape(text)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The whole report as one HTML document with the figures inlined."""
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><nav>{nav}</nav>",
    ]
    for sec in sections:
        parts.append(f'<section id="{sec.anchor}"><h2>{html.escape(sec.title)}</h2>')
        for block in sec.blocks:
            if isinstance(block, Text):
                cls = ' class="nodata"' if block.text.startswith("no data:") else ""
                parts.extend(f"<p{cls}>{_inline_md(p)}</p>" for p in block.text.split("\n\n"))
            elif isinstance(block, Table):
                parts.append(_html_table(block))
            else:
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(
                    f'<figure><img alt="{html.escape(block.caption)}" '
                    f'src="data:image/png;base64,{data}"><figcaption>'
                    f"{html.escape(block.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: Sequence[Section], figure_dir: str = "figures") -> str:
    """The same report in Markdown; figures are links to ``figure_dir/<name>.png``."""
    lines = [f"# {title}", ""]
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        for block in sec.blocks:
            if isinstance(block, Text):
                lines += [block.text, ""]
            elif isinstance(block, Table):
                frame = block.frame
                if block.caption:
                    lines += [f"**{block.caption}**", ""]
                lines.append("| " + " | ".join(_md_cell(c) for c in frame.columns) + " |")
                lines.append("|" + "---|" * len(frame.columns))
                lines += [
                    "| " + " | ".join(_md_cell(v) for v in row) + " |"
                    for row in frame.itertuples(index=False)
                ]
                lines.append("")
            else:
                alt = block.caption.replace("[", "\\[").replace("]", "\\]")
                lines += [f"![{alt}]({figure_dir}/{block.name}.png)", ""]
    return "\n".join(lines)


def _guarded(build: Callable[[], Section], title: str) -> Section:
    """A failing section becomes a 'no data' note instead of losing the whole report."""
    try:
        return build()
    except UserError as err:
        sec = Section(title)
        sec.no_data(str(err))
        return sec


def write_report(
    study_name: str,
    results: list[RunResult],
    records: list[DatasetRecord],
    out_dir: Path,
    reference: str,
    meta: dict | None = None,
) -> dict[str, Path]:
    """Write ``index.html``, ``report.md``, ``figures/*.png`` and CSV tables to ``out_dir``.

    Parameters
    ----------
    study_name : title of the report
    results, records : the study's runs and the test splits they were evaluated on
    out_dir : created if missing; files in it with the same names are overwritten
    reference : model label the Significance section compares against
    meta : optional settings and facts: ``claims`` (bool, show the claims table even when no
        claim is testable), ``parent_run_id``, ``tracking_uri``, ``correction`` ("holm" | "bh"),
        ``n_boot`` (default 1000), ``seed``, ``enrichment_q`` (0.1), ``enrichment_max_sequences``
        (300), ``jaspar`` (False skips the JASPAR scan), ``jaspar_ids``, ``jaspar_top_n`` (8)

    Returns
    -------
    dict with keys ``html``, ``markdown``, ``figures`` (folder), ``summary``, ``comparisons`` and
    ``claims`` (CSV files)
    """
    meta = dict(meta or {})
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        study_name,
        list(results),
        list(records),
        reference,
        meta,
        int(meta.get("n_boot", 1000)),
        int(meta.get("seed", 0)),
    )
    summary = summary_table(ctx.results)
    significance, comparisons = section_significance(ctx)
    claims, claims_frame = section_claims(ctx)
    sections = [
        section_overview(ctx),
        section_results(ctx, summary),
        section_baselines(ctx, summary),
        significance,
        _guarded(lambda: section_learning_curves(ctx), "Learning curves"),
        _guarded(lambda: section_importance(ctx), "Importance maps"),
        _guarded(lambda: section_enrichment(ctx), "Motif enrichment"),
        _guarded(lambda: section_ablation(ctx), "Ablation curves"),
        section_compute(ctx),
        claims,
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections[0].blocks.insert(0, Text(f"Generated {stamp}."))
    for sec in sections:
        for block in sec.blocks:
            if isinstance(block, Plot):
                (fig_dir / f"{block.name}.png").write_bytes(block.png)
    title = f"Study report: {study_name}"
    paths = {
        "html": out_dir / "index.html",
        "markdown": out_dir / "report.md",
        "figures": fig_dir,
        "summary": out_dir / "summary.csv",
        "comparisons": out_dir / "comparisons.csv",
        "claims": out_dir / "claims.csv",
    }
    paths["html"].write_text(render_html(title, sections), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(title, sections), encoding="utf-8")
    summary.to_csv(paths["summary"], index=False)
    comparisons.to_csv(paths["comparisons"], index=False)
    claims_frame.to_csv(paths["claims"], index=False)
    return paths
