"""``harness tune`` under concurrency, with real processes: several commands started together on
a fresh store draw distinct configurations and stop at the exact count, and a worker killed
mid-trial has its trial failed and re-queued by the next run at once, not after grace_period."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from harness.tune.heartbeat import counted_trials, requeued_failures
from harness.tune.storage import open_storage
from tests.harness.tune.test_tuning import study_with, write

JOURNAL = "optuna/tiny_tune.journal"


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen]]:
    """The processes a test starts; any still running at the end is killed (no stray worker)."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def start_tune(
    study: Path, n_trials: int, cwd: Path, spawned: list[subprocess.Popen]
) -> subprocess.Popen:
    """One ``python -m harness tune`` process, its output kept for the failure message."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    args = ["tune", str(study), "--n-trials", str(n_trials), "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    spawned.append(proc)
    return proc


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    """Wait for ``proc``: its exit code and output; a hung one is killed and fails the test."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"tune still running after {timeout} s:\n{proc.communicate()[0]}")
    return proc.returncode, out


def load_trials(cwd: Path) -> list[FrozenTrial]:
    storage = open_storage(str(cwd / JOURNAL))
    return optuna.load_study(study_name="tiny_tune", storage=storage).get_trials(deepcopy=True)


def wait_for_running_trial(cwd: Path, proc: subprocess.Popen, timeout: float) -> FrozenTrial:
    """The first RUNNING trial that names its worker and is training (poll the journal)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, finish(proc)[1]
        if (cwd / JOURNAL).exists():
            with_worker = [
                t
                for t in load_trials(cwd)
                if t.state == TrialState.RUNNING and "worker_pid" in t.user_attrs and t.params
            ]
            if with_worker:
                return with_worker[0]
        time.sleep(0.1)
    pytest.fail(f"no RUNNING trial within {timeout} s")


def distinct_draws(trials: list[FrozenTrial]) -> int:
    """How many different parameter sets the trials drew (re-queued attempts left out)."""
    replaced = requeued_failures(trials)
    kept = [t for t in trials if t.number not in replaced]
    return len({tuple(sorted(t.params.items())) for t in kept})


def test_four_commands_started_together_draw_distinct_trials_and_stop_at_the_count(
    tmp_path, spawned
):
    n_trials = 8
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # fresh: no template, every process creates
    study = write(tmp_path / "study.yaml", study_with(store))
    procs = [start_tune(study, n_trials, tmp_path, spawned) for _ in range(4)]
    results = [finish(p) for p in procs]
    assert [rc for rc, _ in results] == [0] * 4, "\n\n".join(out for _, out in results)
    trials = load_trials(tmp_path)
    assert counted_trials(trials) == n_trials == len(trials)
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert distinct_draws(trials) == n_trials
    seeds = [t.user_attrs["sampler_seed"] for t in trials]
    assert len(set(seeds)) == n_trials


def test_a_killed_workers_trial_is_retried_at_once_not_after_the_grace_period(tmp_path, spawned):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    slow = study_with(store, grace_period=3600)
    slow["train"].update(epochs=500, patience=0)  # a trial long enough to be caught running
    proc = start_tune(write(tmp_path / "slow.yaml", slow), 1, tmp_path, spawned)
    running = wait_for_running_trial(tmp_path, proc, timeout=120)
    assert running.user_attrs["worker_pid"] == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    rerun = start_tune(
        write(tmp_path / "study.yaml", study_with(store, grace_period=3600)), 1, tmp_path, spawned
    )
    rc, out = finish(rerun)
    assert rc == 0, out
    trials = load_trials(tmp_path)
    dead = next(t for t in trials if t.number == running.number)
    assert dead.state == TrialState.FAIL
    assert f"worker {running.user_attrs['worker_host']}:{proc.pid}" in dead.user_attrs["error"]
    dead_run = MlflowClient(store).get_run(dead.user_attrs["mlflow_run_id"])
    assert (dead_run.info.status, dead_run.data.tags["state"]) == ("FAILED", "FAIL")
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == running.number)
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params == running.params
    assert retry.user_attrs["worker_pid"] == rerun.pid
    assert "error" not in retry.user_attrs
    assert [t.number for t in trials] == [dead.number, retry.number]  # nothing else ran
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert counted_trials(trials) == 1  # the retry took the dead attempt's place
