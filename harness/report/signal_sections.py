"""Sections about what the models learned: Learning curves, Importance maps, Motif enrichment,
Ablation curves. Each builder draws and tabulates Analysis data; none computes a statistic.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis.bundle import Analysis
from harness.analysis.enrichment import NULL_COLUMNS, PLANTED_KEYS
from harness.report.blocks import Block, Section, Table, Text, ci_column, rows_of
from harness.report.plots import ablation_plot, curves_plot, importance_plot, tss_plot

PLANTED_CAPTION = (
    "{ds}: top-k positions (k = planted positions per sequence) against the planted motifs; "
    "effect sizes per seed (mean [95% CI]), p-values on the seed-mean importance"
)
NULLS_TEXT = (
    "Each analysis uses the same seeded, class-balanced subset of the test split for every seed "
    "(chance levels and nulls on that subset too); seeds score the same examples, so the tests "
    "run on the seed-mean importance (within-sequence ranks), never on examples pooled across "
    "seeds. p_composition: importance permuted among the positions of each sequence that hold "
    "the same nucleotide, so a model that merely prefers some bases (e.g. A/T at an AT-rich "
    "TATA box) is not called enriched. p_spatial: importance circularly shifted within each "
    "sequence, which keeps its smoothness, so spatially autocorrelated importance that happens "
    "to cover a contiguous feature is not called enriched. Accept enrichment where both are small."
)
RECOVERY_CAPTION = (
    "{ds}: recovery per motif (share of its planted positions in the top-k), mean over seeds"
)


def _noted(sec: Section, a: Analysis, concern: str) -> bool:
    """Put the analysis' note on ``concern`` (why it has no data) into ``sec``, if there is one."""
    if concern in a.notes:
        sec.no_data(a.notes[concern])
        return True
    return False


def _without(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    return frame.drop(columns=[c for c in columns if c in frame.columns]).reset_index(drop=True)


# ------------------------------------------------------------------------ learning curves
def section_learning_curves(a: Analysis) -> Section:
    sec = Section("Learning curves")
    if _noted(sec, a, "learning_curves"):
        return sec
    for ds in a.meta.datasets:
        keys = a.curve_keys.get(ds)
        if keys:
            sec.blocks.append(
                curves_plot(ds, keys, rows_of(a.learning_curves, ds), a.meta.models.get(ds, ()))
            )
    if not sec.blocks:
        sec.no_data("no run recorded per-epoch curves")
    return sec


# ------------------------------------------------------------------------ importance maps
def section_importance(a: Analysis) -> Section:
    sec = Section("Importance maps")
    if _noted(sec, a, "importance"):
        return sec
    sec.blocks += [importance_plot(m) for m in a.importance_maps if m.example_ids]
    if not sec.blocks:
        sec.no_data("no run recorded per-position importance")
    return sec


# ----------------------------------------------------------------------- motif enrichment
def _planted_blocks(a: Analysis, ds: str) -> list[Block]:
    rows = rows_of(a.planted, ds)
    if rows.empty:
        return []
    shown = pd.DataFrame({"model": rows["model"].to_numpy(), "seeds": rows["seeds"].to_numpy()})
    for key in PLANTED_KEYS:
        shown[key] = ci_column(rows, key, f"{key}_ci_lo", f"{key}_ci_hi")
    for col in ("chance precision", *NULL_COLUMNS):
        shown[col] = rows[col].to_numpy()
    blocks: list[Block] = [Table(shown, PLANTED_CAPTION.format(ds=ds))]
    recovery = rows_of(a.motif_recovery, ds)
    if not recovery.empty:
        wide = [
            {"model": model, **dict(zip(part["motif"], part["recovery"], strict=True))}
            for model, part in recovery.groupby("model", sort=False)
        ]
        blocks.append(Table(pd.DataFrame(wide), RECOVERY_CAPTION.format(ds=ds)))
    return blocks


def _promoter_blocks(a: Analysis, ds: str) -> list[Block]:
    profile, table = rows_of(a.tss_profile, ds), rows_of(a.promoter, ds)
    if profile.empty:
        return []
    q = a.meta.enrichment_q
    return [
        tss_plot(ds, profile, a.meta.models.get(ds, ())),
        Table(
            _without(table, "dataset"),
            f"{ds}: top {q:.0%} vs bottom {q:.0%} importance positions in the TATA window "
            "(positive sequences) and in TBP hits: rates and odds ratio (effect sizes), "
            f"p-values of the top {q:.0%} against both nulls",
        ),
    ]


def _jaspar_blocks(a: Analysis, ds: str) -> list[Block]:
    info = a.jaspar_info.get(ds)
    if info is None:
        return []
    if "error" in info:
        return [Text(f"no data: JASPAR scan of {ds} failed ({info['error']})")]
    rows = rows_of(a.jaspar, ds)
    if rows.empty:
        return []
    q = a.meta.enrichment_q
    return [
        Table(
            _without(rows, "dataset"),
            f"{ds} (seeds {_seeds(info)}, {info['n_sequences']} test sequences, "
            f"{info['n_motifs']} JASPAR 2024 CORE vertebrate motifs): top {q:.0%} vs bottom "
            f"{q:.0%} importance positions in motif hits (p < 1e-4); p-values of the top "
            f"{q:.0%} against both nulls, q-values BH-adjusted across motifs; enriched = both q "
            "< 0.05; best 5 motifs per model",
        )
    ]


def _seeds(info: dict) -> str:
    return ", ".join(str(s) for s in info.get("seeds", ()))


def section_enrichment(a: Analysis) -> Section:
    sec = Section("Motif enrichment")
    if _noted(sec, a, "enrichment"):
        return sec
    for ds in a.meta.datasets:
        planted = _planted_blocks(a, ds)
        sec.blocks += planted or (_promoter_blocks(a, ds) + _jaspar_blocks(a, ds))
    if sec.blocks:
        sec.blocks.insert(0, Text(NULLS_TEXT))
    if not sec.blocks:
        sec.no_data(
            "no run recorded per-position importance on a dataset with planted motifs, "
            "a TSS annotation or real sequences to scan"
        )
    return sec


# ------------------------------------------------------------------------ ablation curves
def section_ablation(a: Analysis) -> Section:
    sec = Section("Ablation curves")
    if _noted(sec, a, "ablation"):
        return sec
    for ds in a.meta.datasets:
        rows = rows_of(a.ablation, ds)
        if rows.empty:
            continue
        metric = str(rows["metric"].iloc[0])
        sec.blocks.append(ablation_plot(ds, metric, rows_of(a.ablation_curves, ds)))
        shown = _without(rows, "dataset", "gap", "gap_ci_lo", "gap_ci_hi")
        shown["random − high_to_low [95% CI]"] = ci_column(rows, "gap", "gap_ci_lo", "gap_ci_hi")
        sec.blocks.append(
            Table(
                shown,
                f"{ds}: mean {metric} over each curve ('area'); a positive "
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
