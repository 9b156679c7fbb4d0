"""Dead-worker detection: heartbeats, stale trials and their retries, and the trial budget.

A worker writes the time to its running trial's ``heartbeat`` user attribute every
``heartbeat_interval`` seconds. The next worker that claims a trial fails every RUNNING trial
whose worker is dead and re-queues it with the same parameters; the failed attempt then no
longer counts towards ``n_trials``, its retry does. A worker is dead when it ran on this machine
and its process is gone (:mod:`~harness.core.liveness`: known at once), or when its trial has
been silent for ``grace_period`` seconds (the only sign from another machine). The harness writes
heartbeats itself because Optuna's own mechanism exists only for RDB storages, not for journal
files.
"""

from __future__ import annotations

import copy
import threading
import time
import warnings
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from harness.core.liveness import WORKER_ATTRS, WorkerId, dead_worker, this_worker
from harness.tune.sampler import SEED_ATTR

HEARTBEAT_ATTR = "heartbeat"
RUN_ATTR = "mlflow_run_id"
ERROR_ATTR = "error"
# what describes one attempt, not the configuration: a retry starts without them, so that until
# its new worker writes its own, it is never mistaken for the dead attempt (nor judged by it)
ATTEMPT_ATTRS = frozenset({ERROR_ATTR, HEARTBEAT_ATTR, RUN_ATTR, SEED_ATTR, *WORKER_ATTRS})

RetryCallback = Callable[[optuna.Study, FrozenTrial], None]


def retry_callback(max_retry: int) -> RetryCallback:
    """Optuna's callback that re-queues a failed trial with its parameters (``max_retry`` times);
    the retry records the original number in its system attribute ``failed_trial``."""
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    cls = cls or optuna.storages.RetryFailedTrialCallback  # Optuna < 4.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(max_retry=max_retry)


def requeued_failures(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of the FAIL attempts that were re-queued (each retry names its latest one)."""
    return {h[-1] for t in trials if (h := t.system_attrs.get("retry_history"))}


def counted_trials(trials: list[FrozenTrial]) -> int:
    """Trials that use up the ``n_trials`` budget.

    Every stored trial counts (COMPLETE, PRUNED, FAIL, RUNNING, WAITING) except a FAIL attempt
    that was re-queued: its retry takes its place.
    """
    replaced = requeued_failures(trials)
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in replaced))


def last_sign_of_life(trial: FrozenTrial) -> float:
    """Latest heartbeat or start time (a retry queued by an older version carries its dead
    attempt's heartbeat, hence the start time too)."""
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return max(float(trial.user_attrs.get(HEARTBEAT_ATTR, 0.0)), start)


def stale_reason(trial: FrozenTrial, now: float, grace_period: float, here: WorkerId) -> str | None:
    """Why a RUNNING trial is dead, or None while it may be alive.

    Its worker's process is gone (on this machine: decided at once), or it has been silent for
    more than ``grace_period`` seconds (any machine).
    """
    dead = dead_worker(trial.user_attrs, here)
    if dead is not None:
        return f"worker {dead.label()} is gone (its process exited); trial re-queued"
    silent = now - last_sign_of_life(trial)
    if silent > grace_period:
        return f"worker stopped sending heartbeats ({silent:.0f} s silent); trial re-queued"
    return None


def retry_snapshot(trial: FrozenTrial) -> FrozenTrial:
    """A copy of ``trial`` for the retry callback, which copies its user attributes into the
    retry: the attributes of the attempt (:data:`ATTEMPT_ATTRS`) are left out."""
    snapshot = copy.deepcopy(trial)
    snapshot.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in ATTEMPT_ATTRS}
    return snapshot


def fail_stale_trials(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    grace_period: float,
    retry: RetryCallback,
) -> list[tuple[FrozenTrial, str]]:
    """FAIL every RUNNING trial whose worker is dead (:func:`stale_reason`) and re-queue it.

    Returns
    -------
    The failed trials (as they were while RUNNING) with the reason stored as their ``error``;
    a trial that finished, or that another worker failed, since we looked is left out.
    """
    now, here = time.time(), this_worker()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = stale_reason(trial, now, grace_period, here)
        if reason is None:
            continue
        running = copy.deepcopy(trial)
        try:
            # FrozenTrial has no public setter; this storage call is what Optuna's own
            # fail_stale_trials uses. A finished trial refuses it, hence before the tell.
            storage.set_trial_user_attr(trial._trial_id, ERROR_ATTR, reason)
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue
        retry(study, retry_snapshot(running))
        failed.append((running, reason))
    return failed


class Heartbeat:
    """Writes ``time.time()`` to the trial's ``heartbeat`` user attribute every ``interval`` s,
    from a daemon thread, while the ``with`` block runs."""

    def __init__(self, trial: optuna.Trial, interval: float) -> None:
        self._trial = trial
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            try:
                self._trial.set_user_attr(HEARTBEAT_ATTR, time.time())
            except Exception:  # the trial was finished (e.g. declared stale): nothing to keep alive
                return
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
