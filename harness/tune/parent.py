"""The tuning study's MLflow parent run: opened once per study, re-opened on resume, and given
the record of the search (counts, best trial, plots, trial table, best study YAML)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import optuna

from harness.config.tune import TunePlan
from harness.run.tracking import Tracker
from harness.tune.confirm import write_best_study
from harness.tune.heartbeat import counted_trials
from harness.tune.plots import plot_pngs
from harness.tune.progress import TrialSummary, summarize
from harness.tune.storage import claim_lock, lock_path, shown_url

PARENT_ATTR = "mlflow_parent_run_id"


def _reopen(tracker: Tracker, run_id: str) -> bool:
    """Mark a stored parent run RUNNING again; False if it is gone or in another store."""
    try:
        run = tracker.client.get_run(run_id)
        if run.info.experiment_id != tracker.experiment_id:
            return False
        tracker.client.update_run(run_id, status="RUNNING")
    except Exception:  # deleted, or another tracking store: start a new parent
        return False
    return True


def parent_tags(plan: TunePlan) -> dict[str, str]:
    """What the parent run is tagged with: the search's settings."""
    tune = plan.tune
    return {
        "kind": "tune",
        "study": plan.study.name,
        "model": plan.model.key,
        "model_name": plan.model.name,
        "dataset": plan.dataset.key,
        "objective": plan.metric,
        "direction": plan.direction,
        "sampler": tune.sampler,
        "pruner": tune.pruner.name,
        "storage": shown_url(plan.storage),
        "space": json.dumps(tune.space),
    }


def parent_run(plan: TunePlan, study: optuna.Study, tracker: Tracker) -> str:
    """The tuning study's MLflow parent run: the stored one re-opened on resume, else new.

    Under the claim lock, so that workers started side by side share one parent.
    """
    with claim_lock(lock_path(plan)):
        known = study.user_attrs.get(PARENT_ATTR)
        if known and _reopen(tracker, known):
            return known
        run_id = tracker.start_run(f"tune-{plan.study.name}", parent_tags(plan))
        study.set_user_attr(PARENT_ATTR, run_id)
        return run_id


def log_search(
    plan: TunePlan, study: optuna.Study, tracker: Tracker, parent: str
) -> tuple[TrialSummary, Path | None]:
    """Counts, best params, plots, trial table and the best study YAML on the parent run.

    Returns
    -------
    The trial summary and the path of the best study YAML (None when no trial completed).
    """
    trials = study.get_trials(deepcopy=False)
    s = summarize(trials, plan.direction)
    step = counted_trials(trials)
    tracker.log_metrics(
        parent,
        {"n_complete": s.n_complete, "n_pruned": s.n_pruned, "n_fail": s.n_fail},
        step=step,
    )
    files: dict[str, bytes | str] = {}
    with contextlib.suppress(Exception):  # an empty study has no table
        files["trials.csv"] = study.trials_dataframe().to_csv(index=False)
    pngs, skipped = plot_pngs(study)
    files.update({f"plots/{k}": v for k, v in pngs.items()})
    best_path = None
    if s.best is not None:
        tracker.log_metrics(parent, {"best_value": s.best.value}, step=step)
        tracker.set_tags(
            parent,
            {
                "best_trial": s.best.number,
                **{f"best.{k}": v for k, v in s.best.params.items()},
            },
        )
        files["best_params.json"] = json.dumps(
            {"trial": s.best.number, "value": s.best.value, "params": s.best.params}, indent=2
        )
        best_path, text = write_best_study(plan, s.best)
        files["best_study.yaml"] = text
    if skipped:
        tracker.set_tags(parent, {f"plot_skipped.{k}": v for k, v in skipped.items()})
    tracker.log_files(parent, files)
    return s, best_path
