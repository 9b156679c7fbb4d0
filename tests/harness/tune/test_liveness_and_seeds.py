"""The pieces behind reliable concurrent tuning, in-process and fast: telling a dead worker from
a live one (PID gone, zombie, PID reused, other machine), what a retry inherits, and the sampler
seeded per trial (distinct across workers, reproducible for one)."""

from __future__ import annotations

import datetime
import os
import subprocess
import time
from dataclasses import replace

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from harness.core.liveness import (
    WorkerId,
    dead_worker,
    proc_stat,
    process_gone,
    this_worker,
    worker_of,
)
from harness.tune.heartbeat import HEARTBEAT_ATTR, retry_snapshot, stale_reason
from harness.tune.sampler import TrialSeededSampler, optuna_sampler, trial_seed

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="no /proc")


def exited_child() -> subprocess.Popen:
    """A child that has exited but is not reaped yet (a zombie); the caller reaps it."""
    child = subprocess.Popen(["true"])
    for _ in range(500):
        stat = proc_stat(child.pid)
        if stat is None or stat[0] == "Z":
            return child
        time.sleep(0.01)
    child.kill()
    child.wait()
    pytest.fail("child did not exit")


def running_trial(user_attrs: dict, started: datetime.datetime | None = None) -> FrozenTrial:
    started = started or datetime.datetime.now()
    return FrozenTrial(
        number=0,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=started,
        datetime_complete=None,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0.0, 1.0)},
        user_attrs=user_attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )


# ------------------------------------------------------------------------------- liveness
@needs_proc
def test_this_process_is_alive_and_its_start_time_is_recorded():
    here = this_worker()
    assert here.pid == os.getpid() and here.start is not None and here.scope
    assert not process_gone(here)
    assert worker_of(here.attrs()) == here


@needs_proc
def test_a_reaped_a_zombie_and_a_reused_pid_are_all_gone():
    here = this_worker()
    child = exited_child()
    zombie = replace(here, pid=child.pid, start=None)
    assert process_gone(zombie)  # exited, not reaped: kill(pid, 0) still succeeds
    child.wait()
    assert process_gone(zombie)  # reaped: no such process
    assert process_gone(replace(here, start=here.start + 1))  # our PID, another process's start


def test_only_a_worker_of_this_machine_can_be_declared_dead_at_once():
    here = this_worker()
    child = subprocess.Popen(["true"])
    child.wait()
    gone = replace(here, pid=child.pid).attrs()
    assert dead_worker(gone, here) is not None
    assert dead_worker({**gone, "worker_host": "elsewhere"}, here) is None
    assert dead_worker({**gone, "worker_scope": "other-boot/pid:[1]"}, here) is None
    assert dead_worker(here.attrs(), here) is None
    assert dead_worker({}, here) is None
    assert worker_of({"worker_host": "h", "worker_pid": "12x"}) is None
    assert worker_of({"worker_host": "h", "worker_pid": True}) is None
    # MLflow tags are text: a run's recorded worker reads the same as a trial's
    assert worker_of({"worker_host": "h", "worker_pid": "12"}) == worker_of(
        {"worker_host": "h", "worker_pid": 12}
    )


def test_stale_reason_skips_the_grace_period_for_a_dead_local_worker_only():
    here = this_worker()
    child = subprocess.Popen(["true"])
    child.wait()
    now = time.time()
    dead_here = running_trial({**replace(here, pid=child.pid).attrs(), HEARTBEAT_ATTR: now})
    reason = stale_reason(dead_here, now, 3600, here)
    assert reason is not None and f"worker {here.host}:{child.pid} is gone" in reason

    elsewhere = WorkerId("elsewhere", child.pid, None, None).attrs()
    assert stale_reason(running_trial({**elsewhere, HEARTBEAT_ATTR: now}), now, 3600, here) is None
    long_ago = datetime.datetime.now() - datetime.timedelta(hours=2)
    silent = running_trial({**elsewhere, HEARTBEAT_ATTR: long_ago.timestamp()}, long_ago)
    assert "stopped sending heartbeats" in stale_reason(silent, now, 3600, here)
    assert stale_reason(running_trial(here.attrs()), now, 3600, here) is None


def test_a_retry_inherits_the_users_attributes_not_the_dead_attempts():
    attempt = {
        **this_worker().attrs(),
        HEARTBEAT_ATTR: 1.0,
        "error": "boom",
        "mlflow_run_id": "abc",
        "sampler_seed": 7,
        "note": "kept",
    }
    trial = running_trial(attempt)
    assert retry_snapshot(trial).user_attrs == {"note": "kept"}
    assert trial.user_attrs == attempt  # the stored trial is left as it was


# -------------------------------------------------------------------------------- sampler
def test_trial_seeds_are_stable_distinct_and_accept_negative_study_seeds():
    seeds = [trial_seed(0, n) for n in range(1000)]
    assert len(set(seeds)) == 1000 and all(0 <= s < 2**32 for s in seeds)
    assert seeds[:3] == [trial_seed(0, n) for n in range(3)]
    assert trial_seed(-1, 0) != trial_seed(1, 0) != trial_seed(0, 0)


def draws(study: optuna.Study, n: int) -> list[float]:
    """Ask ``n`` trials in turn, each drawing ``x`` and told its value."""
    out = []
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, x)
        out.append(x)
    return out


@pytest.mark.parametrize("kind", ["random", "tpe"])
def test_workers_sharing_a_study_never_draw_alike_and_one_worker_is_reproducible(kind):
    def sampler() -> TrialSeededSampler:
        return TrialSeededSampler(lambda n: optuna_sampler(kind, trial_seed(0, n)))

    storage = optuna.storages.InMemoryStorage()
    a = optuna.create_study(study_name="s", storage=storage, sampler=sampler())
    b = optuna.load_study(study_name="s", storage=storage, sampler=sampler())
    mixed = [x for _ in range(6) for x in (*draws(a, 1), *draws(b, 1))]
    assert len(set(mixed)) == len(mixed) == 12

    alone = [draws(optuna.create_study(sampler=sampler()), 12) for _ in range(2)]
    assert alone[0] == alone[1]
