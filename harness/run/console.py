"""The results table printed at the end of ``harness run``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from harness.analysis.stats import summary_table
from harness.config.study import StudyConfig
from harness.core.metrics import PRIMARY
from harness.run.runner import StudyOutcome

SHOWN = {
    "regression": ["pearson", "r2", "mse"],
    "binary": ["accuracy", "auroc", "mcc"],
    "multiclass": ["accuracy", "f1", "mcc"],
}


def _cell(mean: float, lo: float, hi: float) -> str:
    if hi != hi:  # NaN: a single seed has no interval
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {(hi - lo) / 2:.4f}"


def print_summary(console: Console, study: StudyConfig, outcome: StudyOutcome) -> None:
    """Mean ± 95% CI half-width over seeds per dataset × model, the constant predictor, the noise
    ceiling where known, the parent run id and how to open the UI."""
    if outcome.results:
        frame = summary_table(outcome.results)
        for dataset, rows in frame.groupby("dataset", sort=False):
            task = next(r.task for r in outcome.results if r.dataset == dataset)
            metrics = SHOWN[task]
            table = Table(
                title=f"{dataset} — test metrics, mean ± 95% CI over seeds "
                f"(primary: {PRIMARY[task]})"
            )
            table.add_column("model", style="bold")
            for m in metrics:
                table.add_column(m, justify="right")
            for model, mrows in rows.groupby("model", sort=False):
                by_metric = {r.metric: r for r in mrows.itertuples()}
                table.add_row(
                    model,
                    *[
                        _cell(by_metric[m].mean, by_metric[m].ci_lo, by_metric[m].ci_hi)
                        if m in by_metric
                        else "—"
                        for m in metrics
                    ],
                )
            first = {r.metric: r for r in rows.itertuples()}
            table.add_row(
                "[dim]constant predictor[/dim]",
                *[
                    f"[dim]{first[m].baseline_mean:.4f}[/dim]" if m in first else "—"
                    for m in metrics
                ],
            )
            ceilings = [
                rec.meta.get("noise_ceiling", {})
                for rec in outcome.records
                if rec.dataset == dataset
            ]
            if any(ceilings):
                table.add_row(
                    "[dim]noise ceiling[/dim]",
                    *[
                        f"[dim]{sum(c.get(m, float('nan')) for c in ceilings) / len(ceilings):.4f}"
                        "[/dim]"
                        if m in ceilings[0]
                        else "—"
                        for m in metrics
                    ],
                )
            console.print(table)
    for failure in outcome.failures:
        console.print(f"[red]FAILED[/red] {failure}")
    console.print(
        f"parent run: {outcome.parent_run_id} (experiment {outcome.experiment_id}) "
        f"in {outcome.tracking_uri}"
    )
    if outcome.report_paths:
        console.print(f"report: {outcome.report_paths.get('html')}")
    console.print("open the UI: python -m harness ui  (then http://127.0.0.1:5000)")
