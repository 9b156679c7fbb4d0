"""``harness tune``: an Optuna search over one model's hyper-parameters, tracked in MLflow.

The ``tune:`` section of a study names a model, a dataset, a validation objective and a search
space. Every trial trains on the train split and is scored on the validation split (the test split
is never read during the search); after the search the best configuration and the model's defaults
are each trained over the study's seeds and evaluated once on test (the *confirm* step).

The package, from the top: :func:`run_tune` (this module) opens the storage and study
(:mod:`~harness.tune.storage`, its sampler seeded per trial by :mod:`~harness.tune.sampler`) and
the MLflow parent run (:mod:`~harness.tune.parent`), runs workers (:mod:`~harness.tune.worker`,
spawned ones through :mod:`~harness.tune.parallel`) whose trials train through
:mod:`~harness.tune.objective` and keep heartbeats (:mod:`~harness.tune.heartbeat`; a dead
worker of this machine is recognised by its process, :mod:`~harness.tune.liveness`), shows
:mod:`~harness.tune.progress`, logs the search with its :mod:`~harness.tune.plots` and runs
:mod:`~harness.tune.confirm`. See docs/tuning.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
import yaml

from harness.config.study import StudyConfig
from harness.config.tune import TunePlan, validate_tune
from harness.core.dataset import SequenceDataset
from harness.core.errors import UserError
from harness.core.metrics import compute_metrics, constant_scores
from harness.core.registry import suggest
from harness.run.tracking import Tracker
from harness.train.unit import load_dataset
from harness.tune.confirm import confirmed
from harness.tune.heartbeat import counted_trials
from harness.tune.parallel import WorkerJob, run_workers
from harness.tune.parent import log_search, parent_run
from harness.tune.progress import TrialSummary, TuneProgress, console
from harness.tune.storage import lock_path, open_storage, open_study, shown_url
from harness.tune.worker import Worker, search


@dataclass
class TuneOutcome:
    """What :func:`run_tune` returns (the CLI prints it)."""

    study_name: str
    storage: str
    parent_run_id: str
    tracking_uri: str
    metric: str
    direction: str
    n_trials: int = 0
    n_complete: int = 0
    n_pruned: int = 0
    n_fail: int = 0
    best_trial: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_study: Path | None = None
    confirm: dict[str, Any] | None = None
    worker_errors: list[str] = field(default_factory=list)


def check_budget(plan: TunePlan) -> None:
    """Fail without a trial or time budget; warn about SQLite with several workers."""
    tune = plan.tune
    if tune.n_trials is None and tune.timeout is None:
        raise UserError("tune: set n_trials or timeout (or pass --n-trials / --timeout)")
    if tune.workers > 1 and plan.storage.startswith("sqlite"):
        console.print(
            "[yellow]warning:[/yellow] SQLite storage with several workers may fail on locks; "
            "the default journal file is safer on one machine"
        )


def check_metric_for_task(plan: TunePlan, dataset: SequenceDataset) -> None:
    """Fail before any trial when the objective is not a validation metric of this task."""
    train, val = dataset.view("train"), dataset.view("val")
    n_classes = int(dataset.meta.get("n_classes", 2))
    scores = constant_scores(dataset.task, train.labels, len(val), n_classes)
    valid = ["val_loss", *(f"val_{k}" for k in compute_metrics(dataset.task, val.labels, scores))]
    if plan.metric not in valid:
        raise UserError(
            f"tune.objective.metric: {plan.metric!r} is not a {dataset.task} validation metric"
            f"{suggest(plan.metric, valid)} (valid: {', '.join(valid)})"
        )


def search_all(w: Worker, show_progress: bool) -> list[str]:
    """Search here and in ``workers - 1`` spawned processes; returns the workers' errors."""
    plan, tune = w.plan, w.plan.tune
    deadline = time.time() + tune.timeout if tune.timeout else None
    errors: list[str] = []
    with TuneProgress(plan, tune.n_trials, show_progress) as progress:
        progress.refresh(w.study)

        def local() -> None:
            search(w, tune.n_trials, deadline, on_trial=lambda: progress.refresh(w.study))

        if tune.workers == 1:
            local()
        else:
            study_data = plan.study.model_dump(mode="json")
            jobs = [
                WorkerJob(study_data, w.tracker.uri, w.parent_run_id, tune.n_trials, deadline, i)
                for i in range(1, tune.workers)
            ]
            errors = run_workers(w.study, jobs, progress, local)
        progress.refresh(w.study)
    return errors


def record_summary(outcome: TuneOutcome, summary: TrialSummary, study: optuna.Study) -> None:
    """Copy the counts and the best trial into ``outcome``."""
    outcome.n_trials = counted_trials(study.get_trials(deepcopy=False))
    outcome.n_complete, outcome.n_pruned = summary.n_complete, summary.n_pruned
    outcome.n_fail = summary.n_fail
    if summary.best is not None:
        outcome.best_trial = summary.best.number
        outcome.best_value = summary.best.value
        outcome.best_params = dict(summary.best.params)


def run_tune(study_cfg: StudyConfig, show_progress: bool = True) -> TuneOutcome:
    """Search, log the search to MLflow, write the best study YAML and (optionally) confirm.

    Parameters
    ----------
    study_cfg : a study with a ``tune`` section (command-line overrides already applied).
    show_progress : live progress line on stderr.

    Raises
    ------
    UserError
        A bad ``tune`` section, storage or objective, found before the first trial, or a
        mistake that fails every trial alike, found by the first one.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = validate_tune(study_cfg)
    check_budget(plan)
    storage = open_storage(plan.storage)
    study = open_study(plan, storage)
    dataset = load_dataset(plan.dataset, plan.seed)
    check_metric_for_task(plan, dataset)
    tracker = Tracker(plan.study.tracking.uri, plan.experiment)
    parent = parent_run(plan, study, tracker)
    outcome = TuneOutcome(
        plan.study.name, shown_url(plan.storage), parent, tracker.uri, plan.metric, plan.direction
    )
    try:
        tracker.log_files(
            parent, {"study.yaml": yaml.safe_dump(plan.study.model_dump(mode="json"))}
        )
        w = Worker(plan, storage, study, tracker, parent, dataset, lock_path(plan))
        outcome.worker_errors = search_all(w, show_progress)
        summary, outcome.best_study = log_search(plan, study, tracker, parent)
        record_summary(outcome, summary, study)
        if summary.best is not None and plan.tune.confirm:
            outcome.confirm = confirmed(plan, study, summary.best, tracker, parent, show_progress)
    except BaseException as err:
        tracker.finish(parent, error=f"{type(err).__name__}: {err}")
        raise
    problems = list(outcome.worker_errors)
    if outcome.best_trial is None:
        problems.append("no trial completed")
    tracker.finish(parent, error="; ".join(problems) if problems else None)
    return outcome
