"""``harness run``: every (dataset, seed, model) of a study, trained, evaluated and tracked."""

from __future__ import annotations

import io
import math
import multiprocessing
import pickle
import resource
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from harness.analysis.analyze import analyze
from harness.analysis.bundle import Analysis
from harness.config.load import study_baselines, study_claims, study_reference
from harness.config.study import DatasetSpec, ModelSpec, StudyConfig, TrainConfig
from harness.core.dataset import SequenceDataset
from harness.core.errors import UserError
from harness.core.model import ATTENTION_PART, FittedModel, SequenceModel
from harness.core.results import DatasetRecord, RunResult
from harness.report.render import write_report
from harness.run.tracking import Tracker, flatten, log_dataset_record, log_result
from harness.train.evaluate import evaluate
from harness.train.fit import TrainedMemo
from harness.train.unit import fit_unit, load_dataset

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


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB): an upper bound for the last run."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024


def _attention_macs(model: SequenceModel | FittedModel, length: int) -> dict[str, float]:
    """``attention_macs_per_seq`` where the model breaks its MACs down (the attention sublayer,
    which compute claims judge selection on); nothing otherwise."""
    parts = model.macs_by_part(length)
    if ATTENTION_PART not in parts:
        return {}
    return {"attention_macs_per_seq": float(parts[ATTENTION_PART])}


def train_one(
    study: StudyConfig,
    spec: ModelSpec,
    dataset: SequenceDataset,
    dataset_key: str,
    seed: int,
    tracker: Tracker,
    run_id: str,
    progress: Progress | None = None,
    memo: TrainedMemo | None = None,
) -> RunResult:
    """Fit one unit (train/val only), evaluate it on test, and log it as one child run."""

    def log_setup(params: BaseModel, cfg: TrainConfig) -> None:
        tracker.log_params(
            run_id,
            {
                "model": params.model_dump(),
                "train": cfg.model_dump(),
                "dataset": {
                    "name": dataset_key,
                    **{k: v for k, v in dataset.meta.items() if isinstance(v, int | float | str)},
                },
                "seed": seed,
            },
        )

    model, params, cfg, fitted = fit_unit(
        study,
        spec,
        dataset,
        seed,
        on_start=log_setup,
        on_epoch=lambda epoch, metrics: tracker.log_metrics(run_id, metrics, step=epoch),
        progress=progress,
        memo=memo,
    )
    if fitted.prepare_metrics:
        tracker.log_metrics(run_id, fitted.prepare_metrics)
    # the binary threshold was chosen on validation scores (fit); NaN for the other tasks
    threshold = fitted.decision_threshold if math.isfinite(fitted.decision_threshold) else 0.5
    out = evaluate(model, dataset, study.evaluation, seed, cfg.device, threshold)
    length = dataset.length
    compute = {
        "n_params": float(model.n_params),
        "macs_per_seq": float(model.macs(length)),
        **_attention_macs(model, length),
        "train_seconds": fitted.train_seconds,
        "seconds_per_epoch": fitted.seconds_per_epoch,
        "epochs_run": float(fitted.epochs_run),
        "best_epoch": float(fitted.best_epoch),
        "peak_rss_mb": peak_rss_mb(),
        # beside the per-epoch curves: every validation metric at the kept epoch
        # (best_val_<m>) and the binary threshold chosen on validation
        "decision_threshold": fitted.decision_threshold,
        **fitted.best_val,
    }
    result = RunResult(
        dataset=dataset_key,
        model=spec.key,
        model_name=spec.name,
        seed=seed,
        task=dataset.task,
        metrics=out["metrics"],
        baseline_metrics=out["baseline_metrics"],
        y_true=out["y_true"],
        y_score=out["y_score"],
        ids=out["ids"],
        importance=out["importance"],
        importance_index=out["importance_index"],
        threshold=threshold,
        ablation=out["ablation"],
        curves=fitted.curves,
        compute=compute,
        extra=out["extra"],
        params=params.model_dump(),
        run_id=run_id,
    )
    log_result(tracker, result)
    if study.evaluation.save_models:
        save_model(tracker, run_id, model)
    return result


def save_model(tracker: Tracker, run_id: str, model: SequenceModel | FittedModel) -> None:
    """State dict (torch) or pickled estimator under the run's ``model/`` artifact folder."""
    if isinstance(model, torch.nn.Module):
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        tracker.log_files(run_id, {"state_dict.pt": buf.getvalue()}, "model")
    else:
        tracker.log_files(run_id, {"model.pkl": pickle.dumps(model)}, "model")


def models_for(study: StudyConfig, dataset: DatasetSpec) -> list[ModelSpec]:
    """The study's models restricted to the dataset's ``models`` list, if it has one."""
    return [m for m in study.models if dataset.models is None or m.key in dataset.models]


def dataset_tags(dataset: SequenceDataset, key: str) -> dict[str, str]:
    return {"dataset": key, "dataset_fingerprint": dataset.fingerprint(), "task": dataset.task}


@dataclass
class UnitOutcome:
    """What one (dataset, seed) unit produced; ``user_error`` stops the whole study."""

    record: DatasetRecord | None
    results: list[RunResult] = field(default_factory=list)
    failures: list[RunFailure] = field(default_factory=list)
    user_error: str | None = None


def run_unit(
    study: StudyConfig,
    dataset_index: int,
    seed: int,
    tracker: Tracker,
    parent: str,
    progress: Progress | None = None,
    overall: TaskID | None = None,
) -> UnitOutcome:
    """Load one dataset at one seed and run each of its models as a child run.

    A model that crashes is FAILED with its traceback and the others go on; a user error (a bad
    setting every model would hit) stops the unit.
    """
    dspec = study.datasets[dataset_index]
    dataset = load_dataset(dspec, seed)
    record = DatasetRecord(
        dspec.key,
        seed,
        dataset.task,
        dataset.view("test"),
        {**dataset.meta, "adapter": dspec.adapter},  # claims select datasets by adapter
        dataset.length,
    )
    log_dataset_record(tracker, parent, record)
    out = UnitOutcome(record)
    memo = TrainedMemo()  # a teacher identical to a model of this unit is not trained twice
    for mspec in models_for(study, dspec):
        name = f"{dspec.key}/{mspec.key}/seed{seed}"
        if progress is not None:
            progress.update(overall, description=name)
        tags = {
            **dataset_tags(dataset, dspec.key),
            "model": mspec.key,
            "model_name": mspec.name,
            "seed": str(seed),
            "kind": "child",
        }
        run_id = tracker.start_run(name, tags, parent=parent)
        try:
            result = train_one(
                study, mspec, dataset, dspec.key, seed, tracker, run_id, progress, memo
            )
        except UserError as err:
            tracker.finish(run_id, error=str(err))
            out.user_error = str(err)
            return out
        except Exception as err:
            failure = RunFailure(dspec.key, mspec.key, seed, f"{type(err).__name__}: {err}")
            tracker.finish(run_id, error=failure.reason)
            tracker.set_tags(run_id, {"traceback": traceback.format_exc()[-4000:]})
            out.failures.append(failure)
            console.print(f"[red]FAILED[/red] {failure}")
        else:
            tracker.finish(run_id)
            out.results.append(result)
        if progress is not None:
            progress.advance(overall)
    return out


def _unit_worker(
    study_data: dict, dataset_index: int, seed: int, uri: str, experiment: str, parent: str
) -> UnitOutcome:
    """One unit in a worker process (``run --jobs N``), with its own MLflow client."""
    study = StudyConfig.model_validate(study_data)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return run_unit(study, dataset_index, seed, Tracker(uri, experiment), parent)
    except UserError as err:
        return UnitOutcome(None, user_error=str(err))


def run_study(study: StudyConfig, show_progress: bool = True, jobs: int = 1) -> StudyOutcome:
    """Run every (dataset, seed, model); children that crash are FAILED, the others go on.

    ``jobs > 1`` runs (dataset, seed) units in that many worker processes (each with
    ``train.threads`` torch threads), all logging to the same store and parent run.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    experiment = study.tracking.experiment or study.name
    tracker = Tracker(study.tracking.uri, experiment)
    study_yaml = yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)
    units = [(i, seed) for i in range(len(study.datasets)) for seed in study.seeds]
    total = len(study.seeds) * sum(len(models_for(study, d)) for d in study.datasets)
    parent = tracker.start_run(study.name, {"kind": "study", "study": study.name})
    outcome = StudyOutcome(parent, tracker.uri, tracker.experiment_id)
    try:
        settings = {"seeds": study.seeds, "reference": study.reference, "jobs": jobs}
        tracker.log_params(parent, flatten("", {**settings, "train": study.train.model_dump()}))
        tracker.log_files(parent, {"study.yaml": study_yaml})
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress,
            transient=True,
        ) as progress:
            overall = progress.add_task("runs", total=total)
            if jobs <= 1:
                done = []
                for i, seed in units:
                    done.append(run_unit(study, i, seed, tracker, parent, progress, overall))
                    if done[-1].user_error:
                        break
            else:
                done = _run_parallel(
                    study, units, jobs, tracker.uri, experiment, parent, progress, overall
                )
        for unit in done:
            if unit.record is not None:
                outcome.records.append(unit.record)
            outcome.results.extend(unit.results)
            outcome.failed_runs.extend(unit.failures)
        errors = [u.user_error for u in done if u.user_error]
        if errors:
            raise UserError(errors[0])
        finish_study(study, tracker, outcome)
    except BaseException as err:
        tracker.finish(parent, error=f"{type(err).__name__}: {err}")
        raise
    tracker.finish(parent, error="; ".join(outcome.failures) if outcome.failures else None)
    return outcome


def _run_parallel(
    study: StudyConfig,
    units: list[tuple[int, int]],
    jobs: int,
    uri: str,
    experiment: str,
    parent: str,
    progress: Progress,
    overall: TaskID,
) -> list[UnitOutcome]:
    """Units in ``jobs`` spawned processes; results come back in the study's order."""
    data = study.model_dump(mode="json")
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch threads exist
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {
            pool.submit(_unit_worker, data, i, seed, uri, experiment, parent): (i, seed)
            for i, seed in units
        }
        finished: dict[tuple[int, int], UnitOutcome] = {}
        for future in as_completed(futures):
            i, seed = futures[future]
            finished[(i, seed)] = future.result()
            n_models = len(models_for(study, study.datasets[i]))
            progress.update(
                overall, advance=n_models, description=f"{study.datasets[i].key}/seed{seed} done"
            )
    return [finished[u] for u in units]


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
    if study.report.enabled:
        out_dir = Path(study.report.out_dir) / study.name
        outcome.report_paths = write_report(analysis, out_dir)
        tracker.log_dir(outcome.parent_run_id, out_dir, "report")
    means = {
        f"mean.{row.dataset}.{row.model}.{row.metric}": row.mean
        for row in analysis.summary.itertuples()
    }
    tracker.log_metrics(outcome.parent_run_id, means)
