"""Sections about how well and at what cost: Overview, Results, Baselines, Compute. Each
builder turns Analysis tables into blocks (selects, renames, formats); none computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from harness.analysis.bundle import Analysis
from harness.analysis.headline import CONSTANT_ROW
from harness.report.blocks import Section, Table, Text, ci_column, rows_of
from harness.report.plots import results_plot

RESULTS_INTRO = (
    "Test metrics per dataset and model: mean over seeds with the 95% t interval in brackets. The "
    "constant predictor (training mean / class frequency) and, for synthetic data, the noise "
    "ceiling (the noiseless label against the noisy one: no model can beat it) frame each column."
)
COMPUTE_INTRO = (
    "Means over seeds. `macs_per_seq` is the analytic multiply-accumulate count for one sequence "
    "at inference; `peak_rss_mb` is the process's peak so far, an upper bound for that run."
)


def _bold_list(labels: Sequence[str]) -> str:
    return ", ".join(f"**{label}**" for label in labels)


# ------------------------------------------------------------------------------ overview
def section_overview(a: Analysis) -> Section:
    sec = Section("Overview", [Text(f"Analysis computed {a.meta.created}.")])
    if not a.meta.datasets:
        sec.no_data("the study produced no successful runs")
        return sec
    m = a.meta
    intro = (
        f"Study **{m.study}**: {len(m.datasets)} dataset(s), {len(m.model_labels)} model(s), "
        f"seeds {list(m.seeds)}. Reference model for comparisons: **{m.reference}**."
    )
    if m.baselines:
        intro += f" Baseline models: {_bold_list(m.baselines)}."
    intro += (
        " Test metrics are computed on each seed's test split; intervals are 95% t intervals "
        "over seeds unless stated."
    )
    lines = [intro, *(f"{key}: {value}" for key, value in m.facts.items())]
    sec.blocks.append(Text("\n\n".join(lines)))
    sec.blocks.append(Table(a.datasets, "Datasets"))
    sec.blocks.append(Table(a.models, "Models (params as resolved)"))
    if not a.leakage.empty:
        sec.blocks.append(
            Table(
                a.leakage,
                "Sequences shared across splits (counted by the adapter; 'dropped' = removed "
                "from the earlier split, test untouched)",
            )
        )
    return sec


# ------------------------------------------------------------------------------- results
def _results_rows(rows: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """The long results rows of one dataset as one row per model / framing row."""
    out = []
    for label in dict.fromkeys(rows["model"]):
        mine = rows[rows["model"] == label]
        cells = dict(zip(mine["metric"], ci_column(mine, "mean", "ci_lo", "ci_hi"), strict=True))
        seeds = mine["seeds"].iloc[0]
        out.append(
            {
                "model": label,
                "kind": mine["kind"].iloc[0],
                **{k: cells.get(k, "—") for k in metrics},
                "seeds": "" if pd.isna(seeds) else int(seeds),
            }
        )
    return pd.DataFrame(out)


def section_results(a: Analysis) -> Section:
    sec = Section("Results")
    if a.summary.empty:
        sec.no_data("no successful runs")
        return sec
    sec.blocks.append(Text(RESULTS_INTRO))
    for ds in a.meta.datasets:
        rows = rows_of(a.results, ds)
        metrics = list(dict.fromkeys(rows["metric"]))
        sec.blocks.append(Table(_results_rows(rows, metrics), f"{ds} ({a.meta.tasks[ds]})"))
        metric = a.meta.primary[ds]
        bars = rows_of(a.summary, ds)
        bars = bars[bars["metric"] == metric]
        constant = rows[(rows["model"] == CONSTANT_ROW) & (rows["metric"] == metric)]["mean"]
        ceiling = a.noise_ceilings.get(ds, {}).get(metric)
        sec.blocks.append(
            results_plot(
                ds,
                metric,
                bars,
                float(constant.iloc[0]) if len(constant) else float("nan"),
                ceiling,
            )
        )
    return sec


# ----------------------------------------------------------------------------- baselines
def section_baselines(a: Analysis) -> Section:
    sec = Section("Baselines and noise ceiling")
    if a.summary.empty:
        sec.no_data("no successful runs")
        return sec
    ran = [b for b in a.meta.baselines if b in a.meta.model_labels]
    which = f"the study's baseline models ({', '.join(f'`{b}`' for b in ran)})" if ran else ""
    sec.blocks.append(
        Text(
            "A model is only interesting if it beats the weak baselines: the constant predictor "
            f"(always){' and ' + which if which else ''}. 'beats' means the whole 95% CI over "
            "seeds lies on the better side of the baseline's mean. The noise ceiling bounds what "
            "any model can reach on synthetic data."
        )
    )
    hidden = {"dataset", "metric", "model", "mean", "ci_lo", "ci_hi"}
    for ds in a.meta.datasets:
        rows = rows_of(a.baselines, ds)
        if rows.empty:
            continue
        metric = a.meta.primary[ds]
        shown = pd.DataFrame(
            {
                "model": rows["model"].to_numpy(),
                metric: ci_column(rows, "mean", "ci_lo", "ci_hi"),
                **{c: rows[c].to_numpy() for c in rows.columns if c not in hidden},
            }
        )
        sec.blocks.append(Table(shown, f"{ds}: primary metric {metric}"))
    if not ran:
        sec.blocks.append(
            Text("no baseline model: the study gives none of its models the baseline role.")
        )
    return sec


# ------------------------------------------------------------------------------- compute
def section_compute(a: Analysis) -> Section:
    sec = Section("Compute")
    if "compute" in a.notes:
        sec.no_data(a.notes["compute"])
        return sec
    sec.blocks.append(Text(COMPUTE_INTRO))
    sec.blocks.append(Table(a.compute, "Compute per dataset and model"))
    return sec
