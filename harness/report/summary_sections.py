"""Sections about what ran, how well and at what cost: Overview, Settings, Results, Baselines,
Compute. Each builder turns Analysis tables into blocks (selects, renames, formats); none computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from harness.analysis.bundle import Analysis
from harness.analysis.headline import CONSTANT_ROW
from harness.report.blocks import Section, Table, Text, ci_column, rows_of
from harness.report.plots import results_plot

RESULTS_INTRO = (
    "Test metrics per dataset and model: mean over seeds with the 95% t interval over seeds in "
    "brackets, built on the logit / Fisher-z scale for bounded metrics so it stays within their "
    "range (seeds share the test set: the Significance section adds the test-set error). The "
    "constant predictor (training mean / class frequency) and, for synthetic data, the noise "
    "ceiling (the noiseless label against the noisy one: no model can beat it) frame each column."
)
SETTINGS_INTRO = (
    "What the run was told and what loading did. Per dataset: the adapter and the params the "
    "study gave, `max_train` / `max_val` (caps on the train and validation splits, stratified and "
    "seeded; the test split is never capped, `none` = no cap) and the split sizes after every cap, "
    "from the first seed. Then the study's train settings and what each model overrides."
)
LEAKAGE_TEXT = (
    "Sequences of an earlier split found in a later one (train in val, train in test, val in "
    "test), counted by the adapter on the full splits before any cap: `exact` copies, `revcomp` "
    "(the reverse complement is there, the sequence itself is not) and `near` (neither, but a "
    "sequence there shares canonical 6-mers at Jaccard >= 0.7: the homology-leakage criterion of "
    "Genomic Benchmarks; MinHash candidates verified exactly, so at most a slight undercount; not "
    "counted for sequences shorter than 30 or longer than 1000 bp). `dropped`: exact and "
    "reverse-complement rows were removed from the earlier split (`drop_leakage`); near-duplicates "
    "are never removed and the test split is never touched."
    "\n\n"
    "DeePromoter-style negatives (GUE prom, EPD GENA-LM) are built from a positive by shuffling or "
    "replacing some of its pieces, so a negative shares most k-mers with its own positive and "
    "often counts as its near-duplicate, with the opposite label. Where the pair straddles two "
    "splits the split leaks: the model is tested on the scrambled twin of a training sequence, and "
    "part of its score can come from telling a sequence from its own shuffled copy rather than "
    "from recognising promoters."
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
        sec.blocks += _failures(a)
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
    if not a.failures.empty:
        intro += f" **{len(a.failures)} run(s) FAILED** (listed below, with the reason)."
    lines = [intro, *(f"{key}: {value}" for key, value in m.facts.items())]
    sec.blocks.append(Text("\n\n".join(lines)))
    sec.blocks.append(Table(a.datasets, "Datasets"))
    sec.blocks.append(Table(a.models, "Models (params as resolved)"))
    sec.blocks += _failures(a)
    return sec


def _failures(a: Analysis) -> list[Table]:
    """The FAILED runs with their reason, or nothing."""
    if a.failures.empty:
        return []
    caption = (
        f"FAILED runs ({len(a.failures)}): missing from every table and figure of this report; "
        "the reason is the run's `error` tag (traceback in MLflow)"
    )
    return [Table(a.failures, caption)]


# ------------------------------------------------------------------------------ settings
def _settings_of(a: Analysis, scope: str) -> pd.DataFrame:
    """The settings rows of one scope (none when the table is empty)."""
    if "scope" not in a.settings.columns:
        return a.settings.iloc[0:0]
    return a.settings[a.settings["scope"] == scope]


def section_settings(a: Analysis) -> Section:
    sec = Section("Settings", [Text(SETTINGS_INTRO)])
    datasets = _settings_of(a, "dataset")
    for name in dict.fromkeys(datasets["name"]) if len(datasets) else ():
        rows = datasets[datasets["name"] == name]
        sec.blocks.append(Table(rows[["setting", "value"]], f"Dataset {name}"))
    train = _settings_of(a, "train")
    if len(train):
        sec.blocks.append(Table(train[["setting", "value"]], "Train settings of the study"))
    models = _settings_of(a, "model").rename(columns={"name": "model"})
    if len(models):
        sec.blocks.append(
            Table(
                models[["model", "setting", "value"]],
                "Per-model settings: `train.*` replace the study's train settings (model-class "
                "defaults included), `params.*` as the study gave them",
            )
        )
    if a.settings.empty:
        sec.no_data("no settings recorded: the analysis was given no study and no dataset")
    sec.blocks.append(Text(LEAKAGE_TEXT))
    if a.leakage.empty:
        sec.blocks.append(Text("No adapter counted shared sequences (synthetic data)."))
    else:
        sec.blocks.append(Table(a.leakage, "Sequences shared across splits, per dataset and seed"))
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
