"""Sections about how well and at what cost: Overview, Results, Baselines, Significance, Compute,
Claims. Each builder turns Analysis tables into blocks (selects, renames, formats); none computes.
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


# -------------------------------------------------------------------------- significance
def _significance_text(reference: str, correction: str) -> str:
    return (
        f"Each model against the reference **{reference}**, per primary metric. "
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


def section_significance(a: Analysis) -> Section:
    sec = Section("Significance")
    frame, reference = a.comparisons, a.meta.reference
    if "comparisons" in a.notes:
        sec.no_data(a.notes["comparisons"])
        return sec
    if frame.empty:
        sec.no_data(f"no model shares a dataset and seed with the reference {reference!r}")
        return sec
    sec.blocks.append(Text(_significance_text(reference, a.meta.correction)))
    shown = pd.DataFrame(
        {
            "dataset": frame["dataset"],
            "model": frame["model"],
            "metric": frame["metric"],
            "model mean": frame["model_mean"],
            "reference mean": frame["ref_mean"],
            "diff [95% CI]": ci_column(frame, "diff", "diff_ci_lo", "diff_ci_hi"),
            "t p (adj)": frame["t_p_adj"],
            "Wilcoxon p (adj)": frame["wilcoxon_p_adj"],
            "example test": frame["example_test"],
            "example p (adj)": frame["example_p_adj"],
            "retention [95% CI]": ci_column(frame, "retention", "retention_lo", "retention_hi"),
            "constant retention": frame["const_retention"],
            "significant": frame["significant"],
        }
    )
    sec.blocks.append(Table(shown, f"Comparisons with {reference} ({len(frame)} tests)"))
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


# -------------------------------------------------------------------------------- claims
def section_claims(a: Analysis) -> Section:
    """The claims table as the analysis holds it (columns as given), verdicts coloured in HTML."""
    sec = Section("Claims")
    if "claims" in a.notes:
        sec.no_data(a.notes["claims"])
        return sec
    if a.claims.empty:
        sec.no_data("the claims file lists no claims")
        return sec
    counts = ", ".join(f"{n} {verdict}" for verdict, n in a.claims_verdicts.items())
    sec.blocks.append(
        Text(
            "Each claim of the study's claims file, measured on this study"
            + (f": {counts}." if counts else ".")
            + " Verdict rules: docs/report.md."
        )
    )
    sec.blocks.append(Table(a.claims, "Claims", class_column="verdict"))
    return sec
