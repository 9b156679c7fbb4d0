"""``harness run --executor ray``: a tiny study on a local Ray instance gives the local executor's
children, metric for metric, under one parent; a unit whose Ray worker is killed is retried
without duplicating a child; and the run display counts children from any executor."""

from __future__ import annotations

import contextlib
import io
import os
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from rich.console import Console

from harness.config.load import load_study
from harness.config.study import StudyConfig
from harness.core.faults import ENV
from harness.run.finish import StudyOutcome
from harness.run.progress import FAILED, KEPT, OK, START, QueueNotify, RunProgress, follow
from harness.run.ray_executor import RayUnit, reclaim
from harness.run.runner import run_study
from harness.run.tracking import Tracker
from harness.run.units import UnitPlan
from tests.conftest import REPO, fresh_store
from tests.refusals import assert_refused

ray = pytest.importorskip("ray")

# one (dataset, seed) unit of two children: a closed-form baseline and a CNN trained one epoch
STUDY = """
name: on_ray
seeds: [3]
datasets:
  - adapter: synthetic_motifs
    params: {n: 96, length: 32, max_motifs: 2}
models:
  - name: constant
  - name: gb_cnn
train: {epochs: 1, batch_size: 32, threads: 1}
evaluation: {importance_max_examples: 16, ablation_steps: 2, ablation_max_examples: 16}
report: {enabled: false}
"""
KEYS = {"synthetic_motifs/constant/seed3", "synthetic_motifs/gb_cnn/seed3"}


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    """``folder`` as the working directory meanwhile: nothing lands in the checkout's mlruns/."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory) -> Iterator[None]:
    """A local Ray instance of two CPUs for the module (its workers start in a temporary
    folder); the tasks import this checkout."""
    with inside(tmp_path_factory.mktemp("ray")):
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
        )
    yield
    ray.shutdown()


def study_in(folder: Path, template: Path) -> StudyConfig:
    (folder / "s.yaml").write_text(STUDY)
    study = load_study(folder / "s.yaml")
    uri = fresh_store(folder / "mlflow.db", template)
    return study.model_copy(update={"tracking": study.tracking.model_copy(update={"uri": uri})})


def children(uri: str) -> dict[str, list[tuple[str, str, dict[str, float]]]]:
    """unit key -> (status, parent run, test metrics) of each of its child runs."""
    client = MlflowClient(uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'child'"
    )
    out: dict[str, list[tuple[str, str, dict[str, float]]]] = {}
    for run in runs:
        test = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
        entry = (run.info.status, run.data.tags["mlflow.parentRunId"], test)
        out.setdefault(run.data.tags["unit_key"], []).append(entry)
    return out


@pytest.fixture(scope="module")
def on_local(tmp_path_factory, migrated_store) -> dict[str, dict[str, float]]:
    """Test metrics of each child of the study run by the local executor."""
    folder = tmp_path_factory.mktemp("local")
    study = study_in(folder, migrated_store)
    with inside(folder):
        run_study(study, show_progress=False)
    runs = children(study.tracking.uri)
    assert set(runs) == KEYS
    return {key: entries[0][2] for key, entries in runs.items()}


def assert_same_as_local(
    uri: str, outcome_parent: str, on_local: dict[str, dict[str, float]]
) -> None:
    runs = children(uri)
    assert set(runs) == KEYS
    finished = {k: [e for e in entries if e[0] == "FINISHED"] for k, entries in runs.items()}
    assert all(len(entries) == 1 for entries in finished.values()), runs  # no duplicate child
    assert not [e for entries in runs.values() for e in entries if e[0] == "RUNNING"]
    assert {e[1] for entries in runs.values() for e in entries} == {outcome_parent}
    for key, entries in finished.items():
        assert entries[0][2], key
        assert entries[0][2] == on_local[key], key  # same seeds, same numbers, bit for bit


def run_on_ray_like_local(
    folder, store: str, on_local: dict[str, dict[str, float]]
) -> StudyOutcome:
    """The study run on Ray, checked to give the local executor's children and numbers."""
    study = study_in(folder, store)
    with inside(folder):
        outcome = run_study(study, show_progress=False, executor="ray")
    assert not outcome.failures
    assert {f"{r.dataset}/{r.model}/seed{r.seed}" for r in outcome.results} == KEYS
    assert_same_as_local(study.tracking.uri, outcome.parent_run_id, on_local)
    return outcome


def test_ray_gives_the_local_executors_children_under_one_parent(
    local_ray, on_local, tmp_path, migrated_store
):
    outcome = run_on_ray_like_local(tmp_path, migrated_store, on_local)
    assert outcome.analysis is not None and not outcome.analysis.summary.empty


def test_a_killed_ray_worker_is_retried_without_duplicating_children(
    local_ray, on_local, tmp_path, migrated_store, monkeypatch
):
    # Every Ray worker SIGKILLs itself after its first finished child (core.faults): the first
    # attempt finishes one child and dies, the retry reads it back and trains the other, then
    # dies too; the third attempt finds both finished. Two retries (the default) suffice.
    monkeypatch.setenv(ENV, "child_done")
    outcome = run_on_ray_like_local(tmp_path, migrated_store, on_local)
    # the kill did happen: each child was trained by another worker process
    client = MlflowClient(outcome.tracking_uri)
    pids = {
        r.data.tags["worker_pid"]
        for r in client.search_runs(
            [e.experiment_id for e in client.search_experiments()], "tags.kind = 'child'"
        )
    }
    assert len(pids) == 2


def test_a_retry_closes_the_child_its_dead_attempt_left_running(store) -> None:
    tracker = Tracker(store, "retry")
    parent = tracker.start_run("study", {"kind": "study"})
    tags = {"dataset": "d", "seed": "0", "kind": "child"}
    orphan = tracker.start_run("d/m/seed0", {**tags, "unit_key": "d/m/seed0"}, parent=parent)
    failed = tracker.start_run("d/f/seed0", {**tags, "unit_key": "d/f/seed0"}, parent=parent)
    tracker.finish(failed, error="boom")
    unit = RayUnit(UnitPlan(0, 0), "d", ("d/m/seed0", "d/f/seed0"), 1.0, 0.0)
    held = reclaim(tracker, parent, unit)
    assert held.failures == {"d/f/seed0": "boom"}
    assert not held.results and not held.record_logged
    run = tracker.client.get_run(orphan)
    assert run.info.status == "KILLED" and "orphaned" in run.data.tags["error"]


def test_the_display_counts_children_once_whatever_reports_them() -> None:
    display = RunProgress(4, Console(quiet=True), enabled=False, kept={"d/a/seed0"})
    sent: queue.Queue = queue.Queue()
    with follow(display, sent):
        notify = QueueNotify(sent)  # what a --jobs worker or a Ray task calls
        for event, key in [
            (KEPT, "d/a/seed0"),
            (START, "d/b/seed0"),
            (START, "d/c/seed0"),
            (OK, "d/b/seed0"),
            (START, "d/b/seed0"),  # a late duplicate of a finished child: ignored
            (FAILED, "d/c/seed0"),
            (START, "d/d/seed0"),
        ]:
            notify(event, key)
    display(OK, "d/b/seed0")  # the unit's outcome confirms what its events said
    assert display.done == {"d/a/seed0", "d/b/seed0"}
    assert display.failed == {"d/c/seed0"}
    assert display.running == {"d/d/seed0"}
    assert display.bar.tasks[0].completed == 3


def test_the_display_draws_the_counts_beside_trainings_epoch_bars() -> None:
    screen = Console(file=io.StringIO(), force_terminal=True, width=160)
    display = RunProgress(2, screen, enabled=True)
    display(START, "d/a/seed0")
    display.bar.add_task("epochs", total=3)  # what training adds to the same display
    screen.print(display.bar.get_renderable())
    drawn = screen.file.getvalue()
    assert "1 running · 0 done · 0 failed" in drawn and "ETA" in drawn and "epochs" in drawn


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--ray-address", "127.0.0.1:6379"], "--ray-address: only with --executor ray"),
        (["--executor", "ray", "--jobs", "2"], "--jobs: not used with --executor ray"),
        (["--executor", "dask"], "invalid choice: 'dask'"),
    ],
)
def test_executor_flags_are_refused_in_one_line(extra, match, tmp_path, capsys) -> None:
    (tmp_path / "s.yaml").write_text(STUDY)
    assert_refused(["run", str(tmp_path / "s.yaml"), *extra], capsys, tmp_path, match)
