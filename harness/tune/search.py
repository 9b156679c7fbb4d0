"""``harness tune``: an Optuna search over one model's hyper-parameters, tracked in MLflow.

The ``tune:`` section of a study names a model, a dataset, a validation objective and a search
space. Every trial trains on the train split and is scored on the validation split (the test split
is never read during the search); after the search the best configuration and the model's defaults
are each trained over the study's seeds and evaluated once on test (the *confirm* step).

Storage and resumption
    The study lives in an Optuna storage: a journal file under ``<out_dir>/`` by default (safe for
    several processes on one machine), or any RDB URL for workers on several machines. Running the
    same command again continues the same study until ``n_trials`` trials exist in total.
    Trials are claimed under a file lock so that the total is exact for every worker on one
    machine, whatever the number of processes.

Dead workers
    A worker writes a heartbeat (trial user attribute ``heartbeat``) every ``heartbeat_interval``
    seconds. A RUNNING trial silent for ``grace_period`` seconds is failed by the next worker that
    claims a trial and re-queued with the same parameters
    (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback`); the failed attempt does not count
    towards ``n_trials``. Heartbeats are written by this module rather than by the storage because
    Optuna's own mechanism exists only for RDB storages, not for journal files.

MLflow
    One parent run (tag ``kind=tune``) per tuning study, re-opened on resume; one child run per
    trial with tag ``state`` COMPLETE / PRUNED / FAIL and status FINISHED / KILLED / FAILED.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import multiprocessing as mp
import queue
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.config.load import model_train_config, parse_study
from harness.config.study import ModelSpec, StudyConfig, TrackingConfig
from harness.config.tune import TunePlan, validate_tune
from harness.core.errors import UserError
from harness.core.metrics import PRIMARY, compute_metrics, constant_scores
from harness.core.registry import suggest
from harness.run.tracking import Tracker

console = Console(stderr=True)

HEARTBEAT_ATTR = "heartbeat"
RUN_ATTR = "mlflow_run_id"
PARENT_ATTR = "mlflow_parent_run_id"
MLFLOW_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.FAIL: "FAILED",
}


# ------------------------------------------------------------------------------------ storage
def is_rdb(url: str) -> bool:
    return "://" in url


def shown_url(url: str) -> str:
    """The storage URL without its password, for logs and tags."""
    if not is_rdb(url):
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has nothing we could hide reliably
        return url.split("://", 1)[0] + "://…"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage for a URL, else a journal file (created with its folder).

    Raises
    ------
    UserError
        When the database cannot be reached or the journal file cannot be written.
    """
    if is_rdb(url):
        kwargs: dict[str, Any] = {}
        if url.startswith("postgres"):
            # libpq waits for the TCP timeout (minutes) on an unreachable host by default
            kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as err:  # driver missing, bad URL, host down, permissions
            raise UserError(
                f"tune.storage: cannot open {shown_url(url)!r}: {_first_line(err)}"
            ) from None
    path = Path(url)
    if path.is_dir():
        raise UserError(f"tune.storage: {url!r} is a folder; give a journal file path or an URL")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    except OSError as err:
        raise UserError(f"tune.storage: cannot write journal {url!r}: {_first_line(err)}") from None


def lock_path(plan: TunePlan) -> Path:
    """Where the claim lock lives: beside the journal, or in ``out_dir`` for an RDB storage."""
    if is_rdb(plan.storage):
        Path(plan.tune.out_dir).mkdir(parents=True, exist_ok=True)
        return Path(plan.tune.out_dir) / f"{plan.study.name}.claim"
    return Path(f"{plan.storage}.claim")


@contextlib.contextmanager
def claim_lock(path: Path) -> Iterator[None]:
    """A lock shared by every process of this machine (an O_EXCL lock file, as Optuna's own).

    A lock left by a killed process is broken after 30 s, so a crash never blocks a resume.
    """
    lock = optuna.storages.journal.JournalFileOpenLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def make_sampler(plan: TunePlan, worker: int, n_existing: int) -> optuna.samplers.BaseSampler:
    """A seeded sampler that differs per worker and per resume.

    Same-seeded samplers in parallel workers (or a resumed run) would repeat the same random
    start-up points, so the seed mixes in the worker index and the trials already stored.
    """
    entropy = np.random.SeedSequence([plan.tune.sampler_seed, worker, n_existing])
    seed = int(entropy.generate_state(1)[0])
    if plan.tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: running trials count as bad guesses, so parallel workers spread out
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(plan: TunePlan) -> optuna.pruners.BasePruner:
    """Median or Hyperband over epochs (the step reported is the 1-based epoch)."""
    cfg = plan.tune.pruner
    if cfg.name == "none":
        return optuna.pruners.NopPruner()
    if cfg.name == "median":
        # n_warmup_steps is the first prunable step; epochs 1..warmup_epochs stay safe
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs + 1
        )
    searched = {p.field for p in plan.space if p.target == "train"}
    epochs = model_train_config(plan.study, plan.model).epochs
    max_resource: int | str = "auto" if "epochs" in searched else max(epochs, 2)
    return optuna.pruners.HyperbandPruner(
        min_resource=max(1, cfg.warmup_epochs), max_resource=max_resource
    )


def open_study(
    plan: TunePlan, storage: optuna.storages.BaseStorage, worker: int = 0
) -> optuna.Study:
    """Create or load the Optuna study named after the harness study."""
    try:
        n_existing = len(
            optuna.load_study(study_name=plan.study.name, storage=storage).get_trials(
                deepcopy=False
            )
        )
    except KeyError:
        n_existing = 0
    study = optuna.create_study(
        study_name=plan.study.name,
        storage=storage,
        direction=plan.direction,
        sampler=make_sampler(plan, worker, n_existing),
        pruner=make_pruner(plan),
        load_if_exists=True,
    )
    stored = study.direction.name.lower()
    if stored != plan.direction:
        raise UserError(
            f"tune.objective.direction: the stored study {plan.study.name!r} was created to "
            f"{stored}; give a new study name or storage to {plan.direction}"
        )
    return study


# --------------------------------------------------------------------- budget and heartbeats
def _retry_callback(max_retry: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    cls = cls or optuna.storages.RetryFailedTrialCallback  # Optuna < 4.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(max_retry=max_retry)


def _retry_history(trial: FrozenTrial) -> list[int]:
    return list(trial.system_attrs.get("retry_history", []))


def counted_trials(trials: list[FrozenTrial]) -> int:
    """Trials that use up the ``n_trials`` budget.

    Every stored trial counts (COMPLETE, PRUNED, FAIL, RUNNING, WAITING) except a FAIL attempt
    that was re-queued: its retry takes its place.
    """
    replaced = {h[-1] for t in trials if (h := _retry_history(t))}
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in replaced))


def last_sign_of_life(trial: FrozenTrial) -> float:
    """Latest heartbeat or start time (a re-queued trial carries its dead attempt's heartbeat)."""
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return max(float(trial.user_attrs.get(HEARTBEAT_ATTR, 0.0)), start)


class Heartbeat:
    """Writes ``time.time()`` to the trial's ``heartbeat`` user attribute every ``interval`` s."""

    def __init__(self, trial: optuna.Trial, interval: float) -> None:
        import threading

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


# ------------------------------------------------------------------------------ one worker
@dataclass
class TrialOutcome:
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
    dataset: Any
    lock: Path
    retry: Callable[[optuna.Study, FrozenTrial], None] = field(init=False)

    def __post_init__(self) -> None:
        self.retry = _retry_callback(self.plan.tune.max_retry)


def finish_trial_run(
    tracker: Tracker, run_id: str | None, state: TrialState, reason: str | None = None
) -> None:
    """Close a trial's MLflow run: tag ``state`` and status FINISHED / KILLED / FAILED."""
    if not run_id:
        return
    tags = {"state": state.name}
    if reason:
        tags["error" if state == TrialState.FAIL else "pruned"] = reason[:5000]
    tracker.set_tags(run_id, tags)
    tracker.client.set_terminated(run_id, MLFLOW_STATUS[state])


def fail_stale_trials(w: Worker) -> list[int]:
    """FAIL every RUNNING trial silent for ``grace_period`` s and re-queue it; returns numbers."""
    grace = w.plan.tune.grace_period
    now = time.time()
    failed = []
    for trial in w.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        silent = now - last_sign_of_life(trial)
        if silent <= grace:
            continue
        reason = f"worker stopped sending heartbeats ({silent:.0f} s silent); trial re-queued"
        snapshot = copy.deepcopy(trial)  # the retry copies its user attrs: keep `error` out
        try:
            # FrozenTrial has no public setter; this storage call is what Optuna's own
            # fail_stale_trials uses. A finished trial refuses it, hence before the tell.
            w.storage.set_trial_user_attr(trial._trial_id, "error", reason)
            w.study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # finished (or failed by another worker) since we looked
        w.retry(w.study, snapshot)
        with contextlib.suppress(Exception):  # the MLflow run may live in another store
            finish_trial_run(w.tracker, trial.user_attrs.get(RUN_ATTR), TrialState.FAIL, reason)
        console.print(f"[yellow]trial {trial.number}[/yellow]: {reason}")
        failed.append(trial.number)
    return failed


def claim_trial(w: Worker, n_trials: int | None, deadline: float | None) -> optuna.Trial | None:
    """The next trial to run, or None when the budget or the time is spent.

    Counting and asking happen under one lock so that parallel workers never overshoot
    ``n_trials``; a re-queued (WAITING) trial is always run, it already holds its budget slot.
    """
    with claim_lock(w.lock):
        fail_stale_trials(w)
        if deadline is not None and time.time() >= deadline:
            return None
        trials = w.study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting and n_trials is not None and counted_trials(trials) >= n_trials:
            return None
        trial = w.study.ask()
        trial.set_user_attr(HEARTBEAT_ATTR, time.time())
        trial.set_user_attr("worker", f"{socket.gethostname()}:{mp.current_process().pid}")
        return trial


def report_epoch(trial: optuna.Trial, metric: str, epoch: int, metrics: dict[str, float]) -> None:
    """The pruning hook: report ``metric`` for ``epoch``, raise TrialPruned if the pruner says so.

    Raises
    ------
    UserError
        ``metric`` is not among the epoch's validation metrics (a wrong objective name).
    optuna.TrialPruned
        The curve so far is worse than the pruner tolerates.
    """
    if metric not in metrics:
        valid = sorted(k for k in metrics if k.startswith("val_"))
        raise UserError(
            f"tune.objective.metric: {metric!r} is not computed for this task "
            f"(valid: {', '.join(valid)})"
        )
    value = float(metrics[metric])
    if not math.isfinite(value):
        return  # a NaN final value fails the trial; the pruner only compares finite values
    trial.report(value, epoch)
    if trial.should_prune():
        raise optuna.TrialPruned(f"pruned after epoch {epoch}: {metric} = {value:.4g}")


def objective_value(curves: dict[str, list[float]], best_epoch: int, metric: str) -> float:
    """The objective at the epoch whose weights training kept (the model a user would get)."""
    curve = curves.get(metric, [])
    if not curve:
        return float("nan")
    return float(curve[best_epoch - 1] if 1 <= best_epoch <= len(curve) else curve[-1])


def train_trial(w: Worker, trial: optuna.Trial, run_id: str) -> float:
    """Sample, build, fit (train/val only) and return the objective; may raise TrialPruned."""
    from harness.run.runner import build_model
    from harness.train.fit import fit, set_seed

    plan = w.plan
    values = {p.name: p.suggest(trial) for p in plan.space}
    spec = plan.spec_with(values)
    cfg = model_train_config(plan.study, spec)
    set_seed(plan.seed, cfg.threads)  # weights are initialised under the trial seed
    model, params = build_model(spec, w.dataset)
    w.tracker.log_params(
        run_id,
        {
            "tuned": values,
            "model": params.model_dump(),
            "train": cfg.model_dump(),
            "dataset": plan.dataset.key,
            "seed": plan.seed,
        },
    )

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        w.tracker.log_metrics(run_id, metrics, step=epoch)
        report_epoch(trial, plan.metric, epoch, metrics)

    fitted = fit(
        model, w.dataset.view("train"), w.dataset.view("val"), cfg, plan.seed, on_epoch=on_epoch
    )
    value = objective_value(fitted.curves, fitted.best_epoch, plan.metric)
    w.tracker.log_metrics(
        run_id,
        {
            "objective": value,
            "best_epoch": float(fitted.best_epoch),
            "epochs_run": float(fitted.epochs_run),
            "train_seconds": fitted.train_seconds,
        },
    )
    if not math.isfinite(value):
        raise ValueError(f"the objective {plan.metric} is {value}")
    return value


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
        return TrialOutcome(TrialState.COMPLETE, value=train_trial(w, trial, run_id))
    except optuna.TrialPruned as err:
        return TrialOutcome(TrialState.PRUNED, reason=str(err))
    except UserError as err:
        conclude(w, trial, TrialOutcome(TrialState.FAIL, reason=str(err)))
        raise
    except Exception as err:
        return TrialOutcome(
            TrialState.FAIL, reason=_first_line(err), traceback=traceback.format_exc()[-4000:]
        )


def conclude(w: Worker, trial: optuna.Trial, out: TrialOutcome, requeue: bool = False) -> None:
    """Tell Optuna and close the MLflow run; ``requeue`` retries the trial (interrupted)."""
    run_id = trial.user_attrs.get(RUN_ATTR)
    snapshot = None
    if requeue:  # taken before `error` is set, which the retry must not inherit
        trials = w.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        snapshot = copy.deepcopy(next(t for t in trials if t.number == trial.number))
    if out.reason and out.state == TrialState.FAIL:
        trial.set_user_attr("error", out.reason)
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
    """Claim and run trials until the budget or the deadline is reached; returns trials run."""
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


def prepare_worker(plan: TunePlan, tracking_uri: str, parent_run_id: str, worker: int) -> Worker:
    """Open storage, study, tracker and data in a worker process."""
    from harness.run.runner import load_dataset

    storage = open_storage(plan.storage)
    study = open_study(plan, storage, worker)
    tracker = Tracker(tracking_uri, plan.experiment)
    dataset = load_dataset(plan.dataset, plan.seed)
    return Worker(plan, storage, study, tracker, parent_run_id, dataset, lock_path(plan))


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
    """Entry point of a spawned worker: runs :func:`search`, reports how it ended."""
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        plan = validate_tune(StudyConfig.model_validate(job.study))
        w = prepare_worker(plan, job.tracking_uri, job.parent_run_id, job.worker)
        results.put((job.worker, "ok", str(search(w, job.n_trials, job.deadline))))
    except UserError as err:
        results.put((job.worker, "user_error", str(err)))
    except KeyboardInterrupt:
        results.put((job.worker, "interrupted", ""))
    except Exception as err:
        results.put((job.worker, "error", f"{_first_line(err)}\n{traceback.format_exc()[-3000:]}"))


# ------------------------------------------------------------------------------- progress
class TuneProgress:
    """One live line: trials done / total, best value, pruned and failed counts."""

    def __init__(self, plan: TunePlan, n_trials: int | None, enabled: bool) -> None:
        self.plan = plan
        self.progress = Progress(
            TextColumn(f"[bold]tune {plan.study.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.task = self.progress.add_task("trials", total=n_trials, info="")

    def refresh(self, study: optuna.Study) -> None:
        s = summarize(study.get_trials(deepcopy=False), self.plan.direction)
        best = "—" if s.best is None else f"{s.best.value:.4g}"
        info = f"best {self.plan.metric}={best} · pruned {s.n_pruned} · failed {s.n_fail}"
        self.progress.update(self.task, completed=s.n_finished, info=info)

    def __enter__(self) -> TuneProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


@dataclass
class TrialSummary:
    n_complete: int = 0
    n_pruned: int = 0
    n_fail: int = 0
    n_running: int = 0
    best: FrozenTrial | None = None

    @property
    def n_finished(self) -> int:
        return self.n_complete + self.n_pruned + self.n_fail


def summarize(trials: list[FrozenTrial], direction: str) -> TrialSummary:
    """Counts by state (re-queued failures excluded) and the best COMPLETE trial."""
    replaced = {h[-1] for t in trials if (h := _retry_history(t))}
    s = TrialSummary()
    sign = -1.0 if direction == "minimize" else 1.0
    for t in trials:
        if t.state == TrialState.COMPLETE:
            s.n_complete += 1
            if s.best is None or sign * t.value > sign * s.best.value:
                s.best = t
        elif t.state == TrialState.PRUNED:
            s.n_pruned += 1
        elif t.state == TrialState.FAIL and t.number not in replaced:
            s.n_fail += 1
        elif t.state == TrialState.RUNNING:
            s.n_running += 1
    return s


# --------------------------------------------------------------------------- after the search
def best_study_mapping(plan: TunePlan, best: dict[str, Any]) -> dict[str, Any]:
    """The study as written, the best values merged into the tuned model, ``tune`` removed."""
    data = plan.study.model_dump(mode="json", exclude_unset=True)
    data.pop("tune", None)
    model, train = plan.split_params(best)
    if plan.model_index is None:
        entry: dict[str, Any] = {"name": plan.model.name, "params": model}
        if train:
            entry["train"] = train
        data["models"].append(entry)
        key = plan.dataset.key
        for d in data["datasets"]:
            # a dataset restricted to some models must also run the newly added one
            if d.get("models") is not None and (d.get("label") or d["adapter"]) == key:
                d["models"].append(plan.model.name)
    else:
        entry = data["models"][plan.model_index]
        entry["params"] = {**entry.get("params", {}), **model}
        if train:
            entry["train"] = {**entry.get("train", {}), **train}
    return data


def write_best_study(plan: TunePlan, best: FrozenTrial) -> tuple[Path, str]:
    """Write ``<out_dir>/<study>.best.yaml`` after validating it; returns its path and text."""
    data = best_study_mapping(plan, best.params)
    path = Path(plan.tune.out_dir) / f"{plan.study.name}.best.yaml"
    parse_study(data, str(path))  # a best config that would not run is a bug: fail loudly here
    header = (
        f"# Best configuration of tuning study {plan.study.name!r}: trial {best.number}, "
        f"{plan.metric} = {best.value:.6g} ({plan.direction}).\n"
        f"# Written by `python -m harness tune`; run it with `python -m harness run {path}`.\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path, text


def plot_pngs(study: optuna.Study) -> tuple[dict[str, bytes], dict[str, str]]:
    """Optimization history, parallel coordinates and parameter importances as PNG bytes.

    Returns
    -------
    (files, skipped): PNG bytes by file name, and the reason each plot that could not be drawn
    was skipped (e.g. parameter importances need at least two finished trials).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display in workers, CI or over ssh
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    plots = {
        "optimization_history.png": ovm.plot_optimization_history,
        "parallel_coordinate.png": ovm.plot_parallel_coordinate,
        "param_importances.png": ovm.plot_param_importances,
    }
    files: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    for name, draw in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw(study)
            figure = np.ravel(axes)[0].figure if isinstance(axes, np.ndarray) else axes.figure
            buf = io.BytesIO()
            figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            plt.close(figure)
            files[name] = buf.getvalue()
        except Exception as err:  # too few trials, a single distinct value, ...
            skipped[name] = _first_line(err)
            plt.close("all")
    return files, skipped


def log_search(
    plan: TunePlan, study: optuna.Study, tracker: Tracker, parent: str
) -> tuple[TrialSummary, Path | None]:
    """Counts, best params, plots, trial table and the best study YAML on the parent run."""
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


# ---------------------------------------------------------------------------------- confirm
def confirm_study(plan: TunePlan, best: dict[str, Any], tracking_uri: str) -> StudyConfig:
    """Two entries, ``<model>_tuned`` and ``<model>_default``, on the tuned dataset."""
    tuned = plan.spec_with(best, label=f"{plan.model.key}_tuned")
    default = ModelSpec(
        name=plan.model.name,
        label=f"{plan.model.key}_default",
        params=dict(plan.model.params),
        train=dict(plan.model.train),
    )
    derived = plan.study.model_copy(
        update={
            "name": f"{plan.study.name}.confirm",
            # both entries run on the dataset whatever model list the study gave it
            "datasets": [plan.dataset.model_copy(update={"models": None})],
            "models": [tuned, default],
            "reference": default.key,
            "tune": None,
            "tracking": TrackingConfig(uri=tracking_uri, experiment=plan.experiment),
        }
    )
    return parse_study(derived.model_dump(mode="json"), "confirm study")


def confirm_metric(plan: TunePlan, task: str, available: set[str]) -> str:
    """The objective's test counterpart (val_auroc -> auroc), else the task's primary metric."""
    name = plan.metric[4:]
    return name if name in available else PRIMARY[task]


def run_confirm(
    plan: TunePlan, best: FrozenTrial, tracker: Tracker, parent: str, show_progress: bool
) -> dict[str, Any]:
    """Train best and default over the study's seeds, test once, paired tests over seeds."""
    from harness.analysis.stats import paired_seed_tests
    from harness.run.runner import run_study

    derived = confirm_study(plan, best.params, tracker.uri)
    outcome = run_study(derived, show_progress=show_progress)
    tracker.set_tags(outcome.parent_run_id, {"mlflow.parentRunId": parent, "tune_parent": parent})
    tracker.set_tags(parent, {"confirm_run_id": outcome.parent_run_id})
    tuned_key, default_key = (m.key for m in derived.models)
    by_key: dict[str, dict[int, dict[str, float]]] = {tuned_key: {}, default_key: {}}
    for r in outcome.results:
        by_key[r.model][r.seed] = r.metrics
    seeds = sorted(set(by_key[tuned_key]) & set(by_key[default_key]))
    task = outcome.results[0].task if outcome.results else "binary"
    available = set(outcome.results[0].metrics) if outcome.results else set()
    metric = confirm_metric(plan, task, available)
    a = [by_key[tuned_key][s].get(metric, float("nan")) for s in seeds]
    b = [by_key[default_key][s].get(metric, float("nan")) for s in seeds]
    tests = paired_seed_tests(a, b)
    result = {
        "metric": f"test_{metric}",
        "seeds": seeds,
        "tuned": a,
        "default": b,
        "tuned_mean": float(np.mean(a)) if a else float("nan"),
        "default_mean": float(np.mean(b)) if b else float("nan"),
        **tests,
        "run_id": outcome.parent_run_id,
        "failures": outcome.failures,
        "trial": best.number,
    }
    numeric = {k: v for k, v in result.items() if isinstance(v, int | float)}
    tracker.log_metrics(parent, {f"confirm.{k}": v for k, v in numeric.items()})
    rows = ["seed,tuned,default,diff"] + [
        f"{s},{x},{y},{x - y}" for s, x, y in zip(seeds, a, b, strict=True)
    ]
    tracker.log_files(
        parent,
        {"confirm.csv": "\n".join(rows) + "\n", "confirm.json": json.dumps(result, indent=2)},
    )
    return result


def confirmed(
    plan: TunePlan,
    study: optuna.Study,
    best: FrozenTrial,
    tracker: Tracker,
    parent: str,
    show_progress: bool,
) -> dict[str, Any]:
    """The confirm result for ``best``: stored in the Optuna study when an earlier run already
    confirmed this very trial (re-running a finished search costs nothing), else computed."""
    stored = study.user_attrs.get("confirm")
    if isinstance(stored, dict) and stored.get("trial") == best.number and not stored["failures"]:
        console.print(f"confirm: trial {best.number} was confirmed before (run {stored['run_id']})")
        return stored
    result = run_confirm(plan, best, tracker, parent, show_progress)
    study.set_user_attr("confirm", result)
    return result


# ---------------------------------------------------------------------------------- top level
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


def check_metric_for_task(plan: TunePlan, dataset: Any) -> None:
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


def parent_run(plan: TunePlan, study: optuna.Study, tracker: Tracker) -> str:
    """The tuning study's MLflow parent run: the stored one re-opened on resume, else new."""
    with claim_lock(lock_path(plan)):
        known = study.user_attrs.get(PARENT_ATTR)
        if known:
            try:
                run = tracker.client.get_run(known)
                if run.info.experiment_id == tracker.experiment_id:
                    tracker.client.update_run(known, status="RUNNING")
                    return known
            except Exception:  # deleted, or another tracking store: start a new parent
                pass
        tune = plan.tune
        tags = {
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
        run_id = tracker.start_run(f"tune-{plan.study.name}", tags)
        study.set_user_attr(PARENT_ATTR, run_id)
        return run_id


def run_workers(
    study: optuna.Study,
    jobs: list[WorkerJob],
    progress: TuneProgress,
    local: Callable[[], object],
) -> list[str]:
    """Spawn one process per job, run ``local`` here meanwhile, wait for all; returns errors.

    This process is a worker too (``local``), so ``workers: N`` starts N - 1 processes: each
    one spends seconds importing torch and MLflow before its first trial.
    """
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")  # fork would copy torch's thread pool and database handles
    results = ctx.Queue()
    procs = [ctx.Process(target=worker_main, args=(job, results)) for job in jobs]
    for p in procs:
        p.start()
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
    reports = {}
    for _ in procs:
        try:
            worker, status, message = results.get(timeout=1.0)
        except queue.Empty:  # a worker killed before it could report
            break
        reports[worker] = (status, message)
    errors = []
    for job, p in zip(jobs, procs, strict=True):
        status, message = reports.get(job.worker, ("died", f"exit code {p.exitcode}"))
        if status == "user_error":
            raise UserError(message)
        if status != "ok":
            errors.append(f"worker {job.worker}: {status}: {message}")
    return errors


def run_tune(study_cfg: StudyConfig, show_progress: bool = True) -> TuneOutcome:
    """Search, log the search to MLflow, write the best study YAML and (optionally) confirm.

    Parameters
    ----------
    study_cfg : a study with a ``tune`` section (command-line overrides already applied).
    show_progress : live progress line on stderr.
    """
    import torch

    from harness.run.runner import load_dataset

    torch.use_deterministic_algorithms(True, warn_only=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = validate_tune(study_cfg)
    tune = plan.tune
    if tune.n_trials is None and tune.timeout is None:
        raise UserError("tune: set n_trials or timeout (or pass --n-trials / --timeout)")
    if tune.workers > 1 and plan.storage.startswith("sqlite"):
        console.print(
            "[yellow]warning:[/yellow] SQLite storage with several workers may fail on locks; "
            "the default journal file is safer on one machine"
        )
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
        deadline = time.time() + tune.timeout if tune.timeout else None
        with TuneProgress(plan, tune.n_trials, show_progress) as progress:
            w = Worker(plan, storage, study, tracker, parent, dataset, lock_path(plan))
            progress.refresh(study)

            def local() -> None:
                search(w, tune.n_trials, deadline, on_trial=lambda: progress.refresh(study))

            if tune.workers == 1:
                local()
            else:
                study_data = plan.study.model_dump(mode="json")
                jobs = [
                    WorkerJob(study_data, tracker.uri, parent, tune.n_trials, deadline, i)
                    for i in range(1, tune.workers)
                ]
                outcome.worker_errors = run_workers(study, jobs, progress, local)
            progress.refresh(study)
        summary, outcome.best_study = log_search(plan, study, tracker, parent)
        outcome.n_trials = counted_trials(study.get_trials(deepcopy=False))
        outcome.n_complete, outcome.n_pruned = summary.n_complete, summary.n_pruned
        outcome.n_fail = summary.n_fail
        if summary.best is not None:
            outcome.best_trial = summary.best.number
            outcome.best_value = summary.best.value
            outcome.best_params = dict(summary.best.params)
            if tune.confirm:
                outcome.confirm = confirmed(
                    plan, study, summary.best, tracker, parent, show_progress
                )
    except BaseException as err:
        tracker.finish(parent, error=f"{type(err).__name__}: {err}")
        raise
    problems = list(outcome.worker_errors)
    if outcome.best_trial is None:
        problems.append("no trial completed")
    tracker.finish(parent, error="; ".join(problems) if problems else None)
    return outcome
