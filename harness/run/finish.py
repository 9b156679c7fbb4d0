"""The end of a study: what it produced (:class:`StudyOutcome`) and :func:`finish_study`, which
analyses it once and puts the analysis, its tables and the report on the parent run."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from rich.console import Console

from harness.analysis.analyze import analyze
from harness.analysis.bundle import Analysis
from harness.config.load import study_baselines, study_claims, study_reference
from harness.config.study import StudyConfig
from harness.core.faults import fault_point
from harness.core.results import DatasetRecord, RunResult
from harness.report.render import write_report
from harness.run.tracking import Tracker

console = Console(stderr=True, soft_wrap=True)


class RunFailure(NamedTuple):
    """A child run that FAILED, and why (the exception, as its run's ``error`` tag says)."""

    dataset: str
    model: str
    seed: int
    reason: str

    def __str__(self) -> str:
        return f"{self.dataset}/{self.model}/seed{self.seed}: {self.reason}"


@dataclass
class StudyOutcome:
    """What ``run_study`` returns: the parent run and everything the report needs."""

    parent_run_id: str
    tracking_uri: str
    experiment_id: str
    results: list[RunResult] = field(default_factory=list)
    records: list[DatasetRecord] = field(default_factory=list)
    failed_runs: list[RunFailure] = field(default_factory=list)
    report_paths: dict[str, Path] = field(default_factory=dict)
    analysis: Analysis | None = None  # the study's tables, computed once by finish_study

    @property
    def failures(self) -> list[str]:
        """One line per failed run: ``dataset/model/seedN: reason``."""
        return [str(f) for f in self.failed_runs]


def finish_study(study: StudyConfig, tracker: Tracker, outcome: StudyOutcome) -> None:
    """Analyse the study once and put the analysis, its tables and the report on the parent run.

    The parent run gets ``analysis/`` (the :class:`Analysis` folder ``harness report`` rebuilds
    the page from), ``tables/summary.csv`` and ``tables/comparisons.csv``, one ``mean.<dataset>.
    <model>.<metric>`` metric per summary row and, when the report is enabled, ``report/``.
    """
    if not outcome.results and not outcome.failed_runs:
        return  # nothing ran: no analysis to log
    # a study whose every run FAILED still gets its report: the failures and their reasons
    analysis = analyze(
        outcome.results,
        outcome.records,
        reference=study_reference(study),
        baselines=study_baselines(study),
        claims=study_claims(study),
        study=study.name,
        facts={"parent_run_id": outcome.parent_run_id, "tracking_uri": tracker.uri},
        study_config=study,
        failures=[f._asdict() for f in outcome.failed_runs],
    )
    outcome.analysis = analysis
    if "comparisons" in analysis.notes:
        console.print(f"[yellow]no significance tests:[/yellow] {analysis.notes['comparisons']}")
    with tempfile.TemporaryDirectory() as tmp:
        tracker.log_dir(outcome.parent_run_id, analysis.save(Path(tmp)), "analysis")
    tables = {"summary.csv": analysis.summary, "comparisons.csv": analysis.comparisons}
    files: dict[str, bytes | str] = {name: t.to_csv(index=False) for name, t in tables.items()}
    tracker.log_files(outcome.parent_run_id, files, "tables")
    fault_point("report")
    if study.report.enabled:
        out_dir = Path(study.report.out_dir) / study.name
        outcome.report_paths = write_report(analysis, out_dir)
        tracker.log_dir(outcome.parent_run_id, out_dir, "report")
    means = {
        f"mean.{row.dataset}.{row.model}.{row.metric}": row.mean
        for row in analysis.summary.itertuples()
    }
    tracker.log_metrics(outcome.parent_run_id, means)
