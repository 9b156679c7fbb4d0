"""The results table printed at the end of ``harness run``, read from the study's Analysis."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.table import Table

from harness.analysis.bundle import Analysis
from harness.analysis.headline import CEILING_ROW, CONSTANT_ROW
from harness.config.study import StudyConfig
from harness.core.metrics import TASK_METRICS
from harness.run.finish import StudyOutcome


def _cell(mean: float, lo: float, hi: float) -> str:
    """``mean ± half-width`` of the 95% CI; just the mean when a single seed gives no interval."""
    if math.isnan(hi):
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {(hi - lo) / 2:.4f}"


def _dim(value: float) -> str:
    return f"[dim]{value:.4f}[/dim]"


def _dataset_table(analysis: Analysis, dataset: str, rows: pd.DataFrame) -> Table:
    """Mean ± CI per model of ``dataset``, then the constant predictor and noise ceiling rows."""
    task = analysis.meta.tasks[dataset]
    metrics = TASK_METRICS[task]
    table = Table(
        title=f"{dataset} — test metrics, mean ± 95% CI over seeds "
        f"(primary: {analysis.meta.primary[dataset]})"
    )
    table.add_column("model", style="bold")
    for m in metrics:
        table.add_column(m, justify="right")
    for model, mrows in rows.groupby("model", sort=False):
        by_metric = {r.metric: r for r in mrows.itertuples()}
        table.add_row(
            str(model),
            *[
                _cell(by_metric[m].mean, by_metric[m].ci_lo, by_metric[m].ci_hi)
                if m in by_metric
                else "—"
                for m in metrics
            ],
        )
    # The constant predictor's score on every metric, from the first model's test splits
    # (every model of a dataset is scored against the same constant predictor).
    first = {r.metric: r for r in rows.itertuples()}
    table.add_row(
        f"[dim]{CONSTANT_ROW}[/dim]",
        *[_dim(first[m].baseline_mean) if m in first else "—" for m in metrics],
    )
    ceiling = analysis.noise_ceilings.get(dataset, {})
    if ceiling:
        table.add_row(
            f"[dim]{CEILING_ROW}[/dim]",
            *[_dim(ceiling[m]) if m in ceiling else "—" for m in metrics],
        )
    return table


def print_summary(console: Console, study: StudyConfig, outcome: StudyOutcome) -> None:
    """Mean ± 95% CI half-width over seeds per dataset × model, the constant predictor, the noise
    ceiling where known, the parent run id and how to open the UI.

    Every number comes from ``outcome.analysis`` (the study's summary table and noise ceilings);
    nothing is recomputed here.
    """
    analysis = outcome.analysis
    if analysis is not None:
        for dataset, rows in analysis.summary.groupby("dataset", sort=False):
            console.print(_dataset_table(analysis, str(dataset), rows))
    for failure in outcome.failures:
        console.print(f"[red]FAILED[/red] {failure}")
    console.print(
        f"parent run: {outcome.parent_run_id} (experiment {outcome.experiment_id}) "
        f"in {outcome.tracking_uri}"
    )
    if outcome.report_paths:
        console.print(f"report: {outcome.report_paths.get('html')}")
    console.print("open the UI: python -m harness ui  (then http://127.0.0.1:5000)")
