"""One worker: claim a trial under the lock, run it in its own MLflow run, tell Optuna how it
ended, and repeat until the budget or the deadline is spent.

Every process of a search (the command's own and each spawned one) runs :func:`search` on its
own :class:`Worker`; they coordinate only through the storage and the claim lock.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from harness.config.tune import TunePlan
from harness.core.dataset import SequenceDataset
from harness.core.errors import UserError
from harness.core.liveness import WorkerId, this_worker
from harness.run.tracking import Tracker
from harness.train.unit import load_dataset
from harness.tune.heartbeat import (
    ERROR_ATTR,
    HEARTBEAT_ATTR,
    RUN_ATTR,
    Heartbeat,
    RetryCallback,
    counted_trials,
    fail_stale_trials,
    retry_callback,
    retry_snapshot,
)
from harness.tune.objective import train_trial
from harness.tune.progress import console
from harness.tune.reasons import first_line
from harness.tune.sampler import SEED_ATTR, trial_seed
from harness.tune.storage import claim_lock, lock_path, open_storage, open_study

MLFLOW_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.FAIL: "FAILED",
}


@dataclass
class TrialOutcome:
    """How a trial ended: its state, value (COMPLETE) or reason (PRUNED / FAIL)."""

    state: TrialState
    value: float | None = None
    reason: str | None = None
    traceback: str | None = None


@dataclass
class Worker:
    """Everything one process needs to run trials."""

    plan: TunePlan
    storage: optuna.storages.BaseStorage
    study: optuna.Study
    tracker: Tracker
    parent_run_id: str
    dataset: SequenceDataset
    lock: Path
    retry: RetryCallback = field(init=False)
    process: WorkerId = field(init=False)

    def __post_init__(self) -> None:
        self.retry = retry_callback(self.plan.tune.max_retry)
        self.process = this_worker()


def prepare_worker(plan: TunePlan, tracking_uri: str, parent_run_id: str) -> Worker:
    """Open storage, study, tracker and data in a worker process."""
    storage = open_storage(plan.storage)
    study = open_study(plan, storage)
    tracker = Tracker(tracking_uri, plan.experiment)
    dataset = load_dataset(plan.dataset, plan.seed)
    return Worker(plan, storage, study, tracker, parent_run_id, dataset, lock_path(plan))


def finish_trial_run(
    tracker: Tracker, run_id: str | None, state: TrialState, reason: str | None = None
) -> None:
    """Close a trial's MLflow run: tag ``state`` and status FINISHED / KILLED / FAILED."""
    if not run_id:
        return
    tags = {"state": state.name}
    if reason:
        tags[ERROR_ATTR if state == TrialState.FAIL else "pruned"] = reason[:5000]
    tracker.set_tags(run_id, tags)
    tracker.client.set_terminated(run_id, MLFLOW_STATUS[state])


def retire_stale_trials(w: Worker) -> None:
    """Fail and re-queue the trials of dead workers, and close their MLflow runs."""
    stale = fail_stale_trials(w.study, w.storage, w.plan.tune.grace_period, w.retry)
    for trial, reason in stale:
        with contextlib.suppress(Exception):  # the MLflow run may live in another store
            finish_trial_run(w.tracker, trial.user_attrs.get(RUN_ATTR), TrialState.FAIL, reason)
        console.print(f"[yellow]trial {trial.number}[/yellow]: {reason}")


def attempt_attrs(w: Worker, number: int) -> dict[str, object]:
    """What a claimed trial records about its attempt: heartbeat, worker process, sampler seed."""
    return {
        HEARTBEAT_ATTR: time.time(),
        **w.process.attrs(),
        SEED_ATTR: trial_seed(w.plan.tune.sampler_seed, number),
    }


def claim_trial(w: Worker, n_trials: int | None, deadline: float | None) -> optuna.Trial | None:
    """The next trial to run, or None when the budget or the time is spent.

    Counting and asking happen under one lock so that parallel workers never overshoot
    ``n_trials``; a re-queued (WAITING) trial is always run, it already holds its budget slot.
    The trial records its worker before the lock is released, so that any other worker of this
    machine that finds it RUNNING can tell whether its process is alive (a trial without that
    record is judged by its heartbeat only).
    """
    with claim_lock(w.lock):
        retire_stale_trials(w)
        if deadline is not None and time.time() >= deadline:
            return None
        trials = w.study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting and n_trials is not None and counted_trials(trials) >= n_trials:
            return None
        trial = w.study.ask()
        for key, value in attempt_attrs(w, trial.number).items():
            trial.set_user_attr(key, value)
        return trial


def execute_trial(w: Worker, trial: optuna.Trial) -> TrialOutcome:
    """Run one claimed trial in its own MLflow child run; a failure never escapes (but a
    :class:`UserError`, which would fail every trial alike, is re-raised after recording)."""
    plan = w.plan
    tags = {
        "kind": "trial",
        "trial": str(trial.number),
        "tune_study": plan.study.name,
        "model": plan.model.key,
        "model_name": plan.model.name,
        "dataset": plan.dataset.key,
        "seed": str(plan.seed),
    }
    run_id = w.tracker.start_run(f"trial-{trial.number}", tags, parent=w.parent_run_id)
    trial.set_user_attr(RUN_ATTR, run_id)
    try:
        value = train_trial(plan, w.dataset, w.tracker, trial, run_id)
        return TrialOutcome(TrialState.COMPLETE, value=value)
    except optuna.TrialPruned as err:
        return TrialOutcome(TrialState.PRUNED, reason=str(err))
    except UserError as err:
        conclude(w, trial, TrialOutcome(TrialState.FAIL, reason=str(err)))
        raise
    except Exception as err:
        return TrialOutcome(
            TrialState.FAIL, reason=first_line(err), traceback=traceback.format_exc()[-4000:]
        )


def conclude(w: Worker, trial: optuna.Trial, out: TrialOutcome, requeue: bool = False) -> None:
    """Tell Optuna and close the MLflow run; ``requeue`` retries the trial (interrupted)."""
    run_id = trial.user_attrs.get(RUN_ATTR)
    snapshot = None
    if requeue:
        trials = w.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        snapshot = retry_snapshot(next(t for t in trials if t.number == trial.number))
    if out.reason and out.state == TrialState.FAIL:
        trial.set_user_attr(ERROR_ATTR, out.reason)
    try:
        if out.state == TrialState.COMPLETE:
            w.study.tell(trial, out.value)
        else:
            w.study.tell(trial, state=out.state)
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as err:
        # another worker declared this trial dead (a pause longer than grace_period)
        console.print(f"[yellow]trial {trial.number}[/yellow]: result dropped: {err}")
    if snapshot is not None:
        w.retry(w.study, snapshot)
    if out.traceback and run_id:
        w.tracker.set_tags(run_id, {"traceback": out.traceback})
    finish_trial_run(w.tracker, run_id, out.state, out.reason)
    if out.state == TrialState.COMPLETE:
        w.tracker.log_metrics(w.parent_run_id, {"trial_value": out.value}, step=trial.number)


def search(
    w: Worker,
    n_trials: int | None,
    deadline: float | None,
    on_trial: Callable[[], None] | None = None,
) -> int:
    """Claim and run trials until the budget or the deadline is reached; returns trials run.

    Ctrl-C fails the running trial and re-queues it with the same parameters before stopping.
    """
    ran = 0
    while (trial := claim_trial(w, n_trials, deadline)) is not None:
        with Heartbeat(trial, w.plan.tune.heartbeat_interval):
            try:
                outcome = execute_trial(w, trial)
            except KeyboardInterrupt:
                conclude(w, trial, TrialOutcome(TrialState.FAIL, reason="interrupted"), True)
                raise
        conclude(w, trial, outcome)
        ran += 1
        if on_trial is not None:
            on_trial()
    return ran
