"""``harness run --executor ray``: each (dataset, seed) unit as one Ray task.

Tasks ask for the unit's resources (``train.threads`` CPUs, one GPU when it trains on CUDA) and
run on a local Ray instance started here, or on an existing cluster (``--ray-address`` or
``$RAY_ADDRESS``). Each task opens its own MLflow client and logs its children under the one
parent run, exactly like a ``--jobs`` worker: the same ``run_unit`` code, so the same seeds give
the same results.

Retries: a task whose worker process or node dies is run again (``max_retries``), and so is one
that raised a transient store or I/O error. A retry first reads what the earlier attempt left on
the parent (:func:`reclaim`): FINISHED children are read back and not trained again, FAILED ones
are kept, a child left RUNNING by the dead attempt is closed as KILLED and its model retrained.
So a unit never has two FINISHED children of the same key. A unit still failing after its
retries stops the study like a crashed ``--jobs`` worker (the others finish first); ``harness
run`` again resumes it.

Ray is an optional extra, imported only here and only when this executor is chosen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from mlflow.exceptions import MlflowException

from harness.config.load import model_train_config
from harness.config.study import ModelSpec, StudyConfig
from harness.core.devices import resolve_device
from harness.core.errors import UserError
from harness.core.faults import ENV as FAULT_ENV
from harness.core.results import RunResult
from harness.run.finish import RunFailure
from harness.run.progress import FAILED, OK, Notify, QueueNotify, RunProgress, ignore
from harness.run.resume import unit_key
from harness.run.tracking import Tracker, load_result, sqlite_path
from harness.run.units import UnitOutcome, UnitPlan

RAY_EXTRA = "--executor ray needs the [ray] extra: pip install 'genomic-sparse-harness[ray]'"
MAX_RETRIES = 2
# Errors worth another attempt (an unreachable tracking server, a flaky shared filesystem); a
# bug raises the same error again, so only these are retried, besides a dead worker or node.
TRANSIENT = [OSError, MlflowException]
REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 0.5  # how often the display takes in the tasks' events

# (study as JSON, plan, tracking URI, experiment, parent run, notify) -> outcome
UnitWorker = Callable[[dict, UnitPlan, str, str, str, Notify], UnitOutcome]


def import_ray() -> ModuleType:
    """The ``ray`` module, or a one-line :class:`UserError` naming the extra to install."""
    try:
        import ray  # noqa: PLC0415 (optional extra [ray], needed by this executor only)
    except ImportError:
        raise UserError(RAY_EXTRA) from None
    return ray


@dataclass(frozen=True)
class RayUnit:
    """A unit as a Ray task: its plan, its children's keys and the resources it asks for."""

    plan: UnitPlan
    dataset: str
    keys: tuple[str, ...]  # unit keys of its children, in the study's order
    num_cpus: float
    num_gpus: float

    @property
    def record(self) -> str:
        """The stem of its dataset record on the parent (``datasets/<stem>.npz``)."""
        return f"{self.dataset}__seed{self.plan.seed}"


def ray_unit(study: StudyConfig, plan: UnitPlan, models: list[ModelSpec]) -> RayUnit:
    """``plan`` with its resources: the most torch threads any of its models uses, and one GPU
    when one of them trains on CUDA (Ray then sets ``CUDA_VISIBLE_DEVICES`` to that GPU)."""
    configs = [model_train_config(study, m) for m in models]
    cuda = any(resolve_device(c.device).startswith("cuda") for c in configs)
    dataset = study.datasets[plan.dataset_index].key
    return RayUnit(
        plan,
        dataset,
        tuple(unit_key(dataset, m.key, plan.seed) for m in models),
        float(max((c.threads for c in configs), default=1)),
        1.0 if cuda else 0.0,
    )


@dataclass
class Held:
    """What earlier attempts of a unit left on the parent, by unit key."""

    results: dict[str, RunResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # key -> the FAILED run's reason
    record_logged: bool = False


def reclaim(tracker: Tracker, parent: str, unit: RayUnit) -> Held:
    """Read back what an earlier attempt of ``unit`` finished; close what it left RUNNING.

    Ray runs one attempt at a time, so a RUNNING child of this unit found here belongs to an
    attempt that died: it is marked KILLED and its model trained again.
    """
    wanted = set(unit.keys) - unit.plan.done
    held = Held()
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.dataset = "
        f"'{unit.dataset}' and tags.seed = '{unit.plan.seed}'",
        order_by=["attributes.start_time DESC"],  # a key's latest run decides
        max_results=1000,
    )
    for run in runs:
        key, status = run.data.tags.get("unit_key"), run.info.status
        if key not in wanted or key in held.results or key in held.failures:
            continue
        if status == "FINISHED":
            held.results[key] = load_result(tracker.client, run.info.run_id)
        elif status == "FAILED":
            held.failures[key] = run.data.tags.get("error", "FAILED")
        elif status == "RUNNING":
            tracker.finish(
                run.info.run_id,
                status="KILLED",
                error="orphaned: the Ray task training it died; its retry trained it again",
            )
    logged = {a.path for a in tracker.client.list_artifacts(parent, "datasets")}
    held.record_logged = {f"datasets/{unit.record}.{ext}" for ext in ("npz", "json")} <= logged
    return held


def _failure(key: str, reason: str) -> RunFailure:
    dataset, model, seed = key.rsplit("/", 2)
    return RunFailure(dataset, model, int(seed.removeprefix("seed")), reason)


def attempt(
    worker: UnitWorker,
    study_data: dict,
    unit: RayUnit,
    uri: str,
    experiment: str,
    parent: str,
    notify: Notify,
) -> UnitOutcome:
    """One attempt at ``unit`` in a Ray worker: what an earlier attempt finished is kept, the
    rest run by ``worker`` (the ``--jobs`` worker function: own MLflow client, same parent)."""
    held = reclaim(Tracker(uri, experiment), parent, unit)
    for key in held.results:
        notify(OK, key)
    plan = replace(
        unit.plan,
        done=unit.plan.done | set(held.results) | set(held.failures),
        record_logged=unit.plan.record_logged or held.record_logged,
    )
    outcome = worker(study_data, plan, uri, experiment, parent, notify)
    outcome.results.extend(held.results.values())
    outcome.failures.extend(_failure(key, reason) for key, reason in held.failures.items())
    return outcome


def _absolute(uri: str) -> str:
    """A relative ``sqlite:///`` store made absolute: a Ray worker may start elsewhere."""
    path = sqlite_path(uri)
    if path is None or path.is_absolute():
        return uri
    return f"sqlite:///{path.resolve()}"


def _connect(ray: ModuleType, address: str | None) -> bool:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a local instance sized
    to this machine; an instance this process already joined is used as it is. Returns whether
    this call connected (and so must disconnect)."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    address = address or os.environ.get("RAY_ADDRESS")
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # tasks import the harness from this checkout even where it is not pip-installed
            path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
            ray.init(
                address="local",
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                runtime_env={"env_vars": {"PYTHONPATH": path}},
                **quiet,
            )
    except (ConnectionError, ValueError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        where = (
            f"--ray-address: cannot join Ray at {address!r}"
            if address
            else "--executor ray: cannot start a local Ray instance"
        )
        raise UserError(f"{where}: {first}") from None
    return True


def _check_fits(ray: ModuleType, units: list[RayUnit]) -> None:
    """Refuse a unit no node could ever run: Ray would wait for it forever."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for unit in units:
        if not any(
            r.get("CPU", 0) >= unit.num_cpus and r.get("GPU", 0) >= unit.num_gpus for r in nodes
        ):
            biggest = max(nodes, key=lambda r: r.get("CPU", 0), default={})
            raise UserError(
                f"train.threads / train.device: a unit of {unit.dataset} asks Ray for "
                f"{unit.num_cpus:g} CPU(s) and {unit.num_gpus:g} GPU(s), but no node has them "
                f"(largest: {biggest.get('CPU', 0):g} CPU(s), {biggest.get('GPU', 0):g} GPU(s))"
            )


def run_on_ray(
    units: list[RayUnit],
    worker: UnitWorker,
    study_data: dict,
    tracker: Tracker,
    experiment: str,
    parent: str,
    display: RunProgress,
    address: str | None = None,
    max_retries: int = MAX_RETRIES,
) -> list[UnitOutcome]:
    """Every unit as a Ray task; outcomes in the order of ``units``, as the local path returns
    them. ``display`` follows each child as the tasks report it."""
    ray = import_ray()
    connected = _connect(ray, address)
    try:
        _check_fits(ray, units)
        remote = ray.remote(attempt)
        args = (study_data, _absolute(tracker.uri), experiment, parent)
        return _submit_and_wait(ray, remote, units, worker, args, tracker, display, max_retries)
    finally:
        if connected:  # leaves a cluster running; stops the local instance started here
            ray.shutdown()


def _submit_and_wait(
    ray: ModuleType,
    remote: Any,
    units: list[RayUnit],
    worker: UnitWorker,
    args: tuple[dict, str, str, str],
    tracker: Tracker,
    display: RunProgress,
    max_retries: int,
) -> list[UnitOutcome]:
    """Submit every unit, then take in events and outcomes until every task is done.
    ``args``: the study as JSON, the tracking URI, the experiment and the parent run."""
    from ray.util.queue import Queue  # noqa: PLC0415 (optional extra [ray])

    study_data, uri, experiment, parent = args
    # the actor holding the events takes no CPU a unit could use
    events = Queue(actor_options={"num_cpus": 0}) if display.enabled else None
    notify: Notify = QueueNotify(events) if events is not None else ignore
    # a kill point named for tests (core.faults) reaches the tasks, as it reaches --jobs workers
    faults = {FAULT_ENV: os.environ[FAULT_ENV]} if os.environ.get(FAULT_ENV) else {}
    refs = {
        remote.options(
            num_cpus=unit.num_cpus,
            num_gpus=unit.num_gpus,
            max_retries=max_retries,
            retry_exceptions=TRANSIENT,
            runtime_env={"env_vars": faults} if faults else None,
        ).remote(worker, study_data, unit, uri, experiment, parent, notify): unit
        for unit in units
    }
    outcomes: dict[RayUnit, UnitOutcome] = {}
    lost: list[tuple[RayUnit, BaseException]] = []
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=WAIT_SECONDS)
        if events is not None:
            display.drain(events)
        for ref in ready:
            unit = refs[ref]
            try:
                outcomes[unit] = ray.get(ref)
            except ray.exceptions.RayError as err:
                lost.append((unit, err))
                reclaim(tracker, parent, unit)  # its children left RUNNING: KILLED
                continue
            for result in outcomes[unit].results:
                display(OK, unit_key(result.dataset, result.model, result.seed))
            for failure in outcomes[unit].failures:
                display(FAILED, unit_key(failure.dataset, failure.model, failure.seed))
    if lost:
        unit, err = lost[0]
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RuntimeError(
            f"unit {unit.dataset}/seed{unit.plan.seed} failed on Ray after {max_retries} "
            f"retries: {first}"
        ) from err
    return [outcomes[u] for u in units]
