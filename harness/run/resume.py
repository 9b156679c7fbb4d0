"""Resuming an interrupted ``harness run``: which parent to continue, and what it already holds.

Every child run carries its unit's key (``unit_key`` tag: ``dataset/model/seedN``) and every run
its owner (``worker_host``, ``worker_pid``, ``worker_start``, ``worker_scope``, ``heartbeat``:
:mod:`harness.core.liveness`). A study
run again finds its latest parent with the same resolved configuration (``study_fingerprint``);
when that parent never completed (no ``study_complete`` tag) and its owner is dead, the new
process claims it: finished children are read back, not retrained; children left RUNNING by the
dead process are marked KILLED (kept, with the reason) and their units run again. A live owner
means another ``harness run`` of the study is under way: the new one starts its own parent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from dataclasses import dataclass, field
from types import TracebackType

from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from harness.core.errors import UserError
from harness.core.liveness import owner_alive, owner_tags, worker_of
from harness.core.results import RunResult
from harness.run.tracking import Tracker, load_result, store_lock

STUDY_COMPLETE = "study_complete"
HEARTBEAT_SECONDS = 30.0
GRACE_SECONDS = 120.0  # a run on another host is dead after this long without a heartbeat


def unit_key(dataset: str, model: str, seed: int) -> str:
    """The deterministic key of one (dataset, model, seed) of a study."""
    return f"{dataset}/{model}/seed{seed}"


def study_fingerprint(study: dict) -> str:
    """A parent is resumed only by the same resolved study (``model_dump(mode="json")``):
    models, data, settings, seeds; where it is tracked, its report, description and worker count
    (``jobs``: the results do not depend on it) aside."""
    aside = ("tracking", "report", "description", "jobs")
    kept = {k: v for k, v in study.items() if k not in aside}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Resumed:
    """What an unfinished parent already holds, by unit key."""

    parent: str
    results: dict[str, RunResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # key -> the FAILED run's reason
    killed: list[str] = field(default_factory=list)  # keys of orphans marked KILLED
    records: set[str] = field(default_factory=set)  # dataset-record stems already logged


def claim_unfinished(
    tracker: Tracker,
    study: str,
    fingerprint: str,
    data: dict[str, str],
    fresh: bool = False,
) -> tuple[Resumed | None, str]:
    """Claim the study's latest parent if it is unfinished and its owner dead.

    Returns the parent's contents (None: start a new parent) and a one-line note saying why.
    The check and the claim happen under the store's lock, so two processes resuming at once
    cannot both take the same parent. ``data``: ``{"dataset/seedN": dataset fingerprint}`` of
    the data as it loads now; a parent whose children trained on other data (files edited since)
    is not resumed. ``fresh``: a resumable parent is closed instead (KILLED, with its orphans),
    so nothing stays RUNNING.
    """
    with store_lock(tracker.uri):
        latest = tracker.client.search_runs(
            [tracker.experiment_id],
            filter_string=f"tags.kind = 'study' and tags.study = '{study}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not latest:
            return None, ""
        parent = latest[0]
        tags = parent.data.tags
        run_id = parent.info.run_id
        if STUDY_COMPLETE in tags:
            return None, ""
        if owner_alive(tags, GRACE_SECONDS):
            worker = worker_of(tags)
            who = worker.label() if worker else "another host"
            return None, f"run {run_id} of this study is live ({who}): new parent run"
        why = "--fresh" if fresh else None
        if tags.get("study_fingerprint") != fingerprint:
            why = "the study changed since it ran"
        elif _data_changed(_children(tracker, run_id), data):
            why = "its data files changed since it ran"
        if why:
            _abandon(tracker, run_id)
            return None, f"unfinished run {run_id} closed as KILLED ({why}): new parent run"
        tracker.set_tags(run_id, owner_tags())
    tracker.client.update_run(run_id, status="RUNNING")
    with contextlib.suppress(MlflowException):  # the reason it stopped no longer holds
        tracker.client.delete_tag(run_id, "error")
    resumed = _contents(tracker, run_id)
    note = (
        f"resuming run {run_id}: {len(resumed.results) + len(resumed.failures)} finished "
        f"run(s) kept, {len(resumed.killed)} orphaned run(s) marked KILLED"
    )
    return resumed, note


def _contents(tracker: Tracker, parent: str) -> Resumed:
    """Finished children read back, orphans marked KILLED, dataset records listed."""
    out = Resumed(parent)
    for child in _children(tracker, parent):
        key = child.data.tags.get("unit_key")
        status = child.info.status
        if key is None or key in out.results or key in out.failures:
            continue
        if status == "FINISHED":
            out.results[key] = load_result(tracker.client, child.info.run_id)
        elif status == "FAILED":
            out.failures[key] = child.data.tags.get("error", "FAILED")
        elif status == "RUNNING" and owner_alive(child.data.tags, GRACE_SECONDS):
            worker = worker_of(child.data.tags)
            raise UserError(
                f"{key} of run {parent} is still being trained "
                f"({worker.label() if worker else 'on another host'}); wait for it to stop, "
                "or start anew with --fresh"
            )
        elif status == "RUNNING":
            tracker.finish(child.info.run_id, status="KILLED", error=_orphan_reason(child))
            out.killed.append(key)
    listed = tracker.client.list_artifacts(parent, "datasets")
    out.records = {a.path.rsplit("/", 1)[-1].removesuffix(".npz") for a in listed}
    return out


def _data_changed(children: list[Run], data: dict[str, str]) -> bool:
    """Whether a child trained on a dataset whose fingerprint differs from today's load."""
    for child in children:
        tags = child.data.tags
        now = data.get(f"{tags.get('dataset')}/seed{tags.get('seed')}")
        if now is not None and tags.get("dataset_fingerprint") not in (None, now):
            return True
    return False


def _abandon(tracker: Tracker, parent: str) -> None:
    """Close a dead, unfinished parent and its orphans as KILLED: it will not be resumed."""
    for child in _children(tracker, parent):
        if child.info.status == "RUNNING":
            tracker.finish(child.info.run_id, status="KILLED", error=_orphan_reason(child))
    tracker.finish(parent, status="KILLED", error="abandoned: a new parent run replaced it")


def _children(tracker: Tracker, parent: str) -> list[Run]:
    """Every child of ``parent``, newest first (a key's latest FINISHED run wins)."""
    runs: list[Run] = []
    token = None
    while True:
        page = tracker.client.search_runs(
            [tracker.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent}'",
            order_by=["attributes.start_time DESC"],
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _orphan_reason(child: Run) -> str:
    worker = worker_of(child.data.tags)
    who = worker.label() if worker else "unknown"
    return (
        f"orphaned: its process ({who}) died before it finished; the resumed study ran this "
        "unit again"
    )


class Heartbeat:
    """Refreshes a run's ``heartbeat`` tag every ``HEARTBEAT_SECONDS`` while the block runs, so
    a process on another host can tell this live run from a dead one."""

    def __init__(self, tracker: Tracker, run_id: str) -> None:
        self._tracker, self._run_id = tracker, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._tracker.set_tags(self._run_id, {"heartbeat": owner_tags()["heartbeat"]})
            except Exception:  # a missed beat is harmless; the next one retries
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
