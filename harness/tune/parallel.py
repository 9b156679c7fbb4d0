"""Workers in spawned processes: what each receives, how it reports, and how the command waits
for all of them while searching itself."""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

import optuna
import torch

from harness.config.study import StudyConfig
from harness.config.tune import validate_tune
from harness.core.errors import UserError
from harness.tune.progress import TuneProgress
from harness.tune.reasons import first_line
from harness.tune.worker import prepare_worker, search


@dataclass(frozen=True)
class WorkerJob:
    """What a spawned worker process receives (plain data: it is pickled)."""

    study: dict[str, Any]
    tracking_uri: str
    parent_run_id: str
    n_trials: int | None
    deadline: float | None
    worker: int


def worker_main(job: WorkerJob, results: Any) -> None:
    """Entry point of a spawned worker: runs :func:`search`, then puts
    ``(worker, status, message)`` on ``results``; status is ok (message: trials run),
    user_error, interrupted or error (message: reason and traceback)."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        plan = validate_tune(StudyConfig.model_validate(job.study))
        w = prepare_worker(plan, job.tracking_uri, job.parent_run_id)
        results.put((job.worker, "ok", str(search(w, job.n_trials, job.deadline))))
    except UserError as err:
        results.put((job.worker, "user_error", str(err)))
    except KeyboardInterrupt:
        results.put((job.worker, "interrupted", ""))
    except Exception as err:
        results.put((job.worker, "error", f"{first_line(err)}\n{traceback.format_exc()[-3000:]}"))


def _wait_for(
    procs: list[BaseProcess],
    study: optuna.Study,
    progress: TuneProgress,
    local: Callable[[], object],
) -> None:
    """Run ``local`` here, then refresh the progress line until every process has exited."""
    try:
        local()
        while alive := [p for p in procs if p.is_alive()]:
            progress.refresh(study)
            wait([p.sentinel for p in alive], timeout=1.0)
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=30)  # each worker got the SIGINT too and re-queues its trial
        raise
    except BaseException:
        # a bad setting fails every worker alike: stop the others now; their running trials
        # go stale and are retried by the next run
        for p in procs:
            p.terminate()
            p.join()
        raise
    for p in procs:
        p.join()


def _reports(results: Any, n: int) -> dict[int, tuple[str, str]]:
    """``{worker: (status, message)}`` of the workers that reported (a killed one cannot)."""
    reports = {}
    for _ in range(n):
        try:
            worker, status, message = results.get(timeout=1.0)
        except queue.Empty:
            break
        reports[worker] = (status, message)
    return reports


def _errors(
    jobs: list[WorkerJob], procs: list[BaseProcess], reports: dict[int, tuple[str, str]]
) -> list[str]:
    """One line per worker that did not end well; a user error is raised as such."""
    errors = []
    for job, p in zip(jobs, procs, strict=True):
        status, message = reports.get(job.worker, ("died", f"exit code {p.exitcode}"))
        if status == "user_error":
            raise UserError(message)
        if status != "ok":
            errors.append(f"worker {job.worker}: {status}: {message}")
    return errors


def run_workers(
    study: optuna.Study,
    jobs: list[WorkerJob],
    progress: TuneProgress,
    local: Callable[[], object],
) -> list[str]:
    """Spawn one process per job, run ``local`` here meanwhile, wait for all; returns errors.

    This process is a worker too (``local``), so ``workers: N`` starts N - 1 processes: each
    one spends seconds importing torch and MLflow before its first trial.

    Raises
    ------
    UserError
        A worker stopped on a user error (every worker would).
    """
    ctx = mp.get_context("spawn")  # fork would copy torch's thread pool and database handles
    results = ctx.Queue()
    procs = [ctx.Process(target=worker_main, args=(job, results)) for job in jobs]
    for p in procs:
        p.start()
    _wait_for(procs, study, progress, local)
    return _errors(jobs, procs, _reports(results, len(procs)))
