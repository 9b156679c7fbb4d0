"""The journal storage's locks: one left by a process killed while holding it is broken after
the grace period, whatever the journal path looks like (relative, in a sub-folder: the layout
``harness tune`` uses by default)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

import harness.tune.storage
from harness.tune.storage import claim_lock, open_storage

GRACE = 3  # seconds; Optuna warns below 3


def finishes(work: Callable[[], None], timeout: float = 120) -> bool:
    """Run ``work`` in a daemon thread; False when it is still blocked after ``timeout`` s (an
    error in ``work`` is raised here, not mistaken for a block)."""
    done = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as err:  # handed to the test's thread
            errors.append(err)
        done.set()

    threading.Thread(target=target, daemon=True).start()
    finished = done.wait(timeout)
    if errors:
        raise errors[0]
    return finished


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(harness.tune.storage, "JOURNAL_LOCK_GRACE", GRACE)
    monkeypatch.chdir(tmp_path)


def test_a_journal_lock_left_by_a_dead_writer_is_broken(short_grace: None) -> None:
    journal = "optuna/study.journal"  # relative and in a sub-folder, as `harness tune` names it
    optuna.create_study(study_name="s", storage=open_storage(journal))
    # a writer that dies between acquire and release leaves its lock behind: take the storage's
    # own lock (private attribute, on purpose: it is the lock a killed worker would hold)
    open_storage(journal)._backend._lock.acquire()

    def write_again() -> None:
        study = optuna.load_study(study_name="s", storage=open_storage(journal))
        study.enqueue_trial({"x": 1.0})

    assert finishes(write_again), "the next writer is still blocked by the dead writer's lock"
    trials = optuna.load_study(study_name="s", storage=open_storage(journal)).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.WAITING]


def test_a_claim_lock_left_by_a_dead_worker_is_broken(short_grace: None) -> None:
    held = Path("optuna/study.journal.claim")
    held.parent.mkdir()
    claim_lock(held).__enter__()  # entered, never exited: its holder died

    def claim() -> None:
        with claim_lock(held):
            pass

    assert finishes(claim), "the next worker is still blocked by the dead worker's claim"
