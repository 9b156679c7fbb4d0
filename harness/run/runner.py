"""``harness run``: every (dataset, seed, model) of a study, trained, evaluated and tracked."""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import sys
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import partial

import torch
import yaml
from pydantic import BaseModel
from rich.markup import escape
from rich.progress import Progress

from harness.config.load import (
    model_train_config,
)
from harness.config.study import DatasetSpec, ModelSpec, StudyConfig, TrainConfig
from harness.core.dataset import SequenceDataset
from harness.core.errors import UserError, failure_reason
from harness.core.faults import fault_point
from harness.core.liveness import owner_tags
from harness.core.model import ATTENTION_PART, FittedModel, SequenceModel
from harness.core.registry import get_model
from harness.core.results import DatasetRecord, RunResult
from harness.run.finish import RunFailure, StudyOutcome, console, finish_study
from harness.run.kept import defer_kept
from harness.run.logged_model import ModelCard, save_model
from harness.run.progress import (
    FAILED,
    KEPT,
    OK,
    START,
    Notify,
    RunProgress,
    ignore,
    worker_events,
)
from harness.run.ray_executor import ray_unit, run_on_ray
from harness.run.resume import (
    STUDY_COMPLETE,
    Heartbeat,
    Resumed,
    claim_unfinished,
    study_fingerprint,
    unit_key,
)
from harness.run.tracking import (
    Tracker,
    dataset_inputs,
    flatten,
    log_dataset_record,
    log_environment,
    log_result,
    system_metrics,
)
from harness.run.units import UnitOutcome, UnitPlan
from harness.train.evaluate import evaluate
from harness.train.fit import TrainedMemo, check_monitor
from harness.train.unit import fit_unit, load_dataset, weights_key


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB): an upper bound for the last run."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024


def _attention_macs(model: SequenceModel | FittedModel, length: int) -> dict[str, float]:
    """``attention_macs_per_seq`` where the model breaks its MACs down (the attention sublayer,
    which compute claims judge selection on); nothing otherwise."""
    parts = model.macs_by_part(length)
    if ATTENTION_PART not in parts:
        return {}
    return {"attention_macs_per_seq": float(parts[ATTENTION_PART])}


def train_one(
    study: StudyConfig,
    spec: ModelSpec,
    dataset: SequenceDataset,
    dataset_key: str,
    seed: int,
    tracker: Tracker,
    run_id: str,
    progress: Progress | None = None,
    memo: TrainedMemo | None = None,
) -> RunResult:
    """Fit one unit (train/val only), evaluate it on test, and log it as one child run."""

    def log_setup(params: BaseModel, cfg: TrainConfig) -> None:
        tracker.log_params(
            run_id,
            {
                "model": params.model_dump(),
                "train": cfg.model_dump(),
                "dataset": {
                    "name": dataset_key,
                    **{k: v for k, v in dataset.meta.items() if isinstance(v, int | float | str)},
                },
                "seed": seed,
            },
        )

    def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
        tracker.log_metrics(run_id, metrics, step=epoch)
        fault_point("epoch")

    fingerprint = dataset.fingerprint()
    tracker.log_inputs(
        run_id,
        dataset_inputs(dataset, dataset_key, dataset_source(study, dataset_key), fingerprint),
    )
    with system_metrics(tracker, run_id):  # only when MLflow's switch is on
        model, params, cfg, fitted = fit_unit(
            study,
            spec,
            dataset,
            seed,
            on_start=log_setup,
            on_epoch=log_epoch,
            progress=progress,
            memo=memo,
        )
        if fitted.prepare_metrics:
            tracker.log_metrics(run_id, fitted.prepare_metrics)
        # the binary threshold was chosen on validation scores (fit); NaN for the other tasks
        threshold = fitted.decision_threshold if math.isfinite(fitted.decision_threshold) else 0.5
        out = evaluate(model, dataset, study.evaluation, seed, cfg.device, threshold)
    length = dataset.length
    compute = {
        "n_params": float(model.n_params),
        "macs_per_seq": float(model.macs(length)),
        **_attention_macs(model, length),
        "train_seconds": fitted.train_seconds,
        "seconds_per_epoch": fitted.seconds_per_epoch,
        "epochs_run": float(fitted.epochs_run),
        "best_epoch": float(fitted.best_epoch),
        "peak_rss_mb": peak_rss_mb(),
        # beside the per-epoch curves: every validation metric at the kept epoch
        # (best_val_<m>) and the binary threshold chosen on validation
        "decision_threshold": fitted.decision_threshold,
        **fitted.best_val,
    }
    result = RunResult(
        dataset=dataset_key,
        model=spec.key,
        model_name=spec.name,
        seed=seed,
        task=dataset.task,
        metrics=out["metrics"],
        baseline_metrics=out["baseline_metrics"],
        y_true=out["y_true"],
        y_score=out["y_score"],
        ids=out["ids"],
        importance=out["importance"],
        importance_index=out["importance_index"],
        threshold=threshold,
        ablation=out["ablation"],
        curves=fitted.curves,
        compute=compute,
        extra=out["extra"],
        params=params.model_dump(mode="json"),  # as a resumed study reads it back
        run_id=run_id,
    )
    log_result(tracker, result)
    if study.evaluation.save_models:
        card = ModelCard(
            name=spec.key,
            registry_name=spec.name,
            params=result.params,
            info=dataset.info,
            tags={
                **dataset_tags(dataset, dataset_key, fingerprint),
                "model": spec.key,
                "seed": str(seed),
            },
        )
        save_model(tracker, run_id, model, card, result, fingerprint)
    return result


def dataset_source(study: StudyConfig, dataset_key: str) -> dict[str, object]:
    """Where a dataset came from, for its MLflow dataset input: the adapter and its params."""
    spec = next(d for d in study.datasets if d.key == dataset_key)
    return {"adapter": spec.adapter, "params": spec.params}


def models_for(study: StudyConfig, dataset: DatasetSpec) -> list[ModelSpec]:
    """The study's models restricted to the dataset's ``models`` list, if it has one."""
    return [m for m in study.models if dataset.models is None or m.key in dataset.models]


def dataset_tags(
    dataset: SequenceDataset, key: str, fingerprint: str | None = None
) -> dict[str, str]:
    """A child's dataset tags; ``fingerprint``: the dataset's, when already computed (it hashes
    every token)."""
    digest = fingerprint or dataset.fingerprint()
    return {"dataset": key, "dataset_fingerprint": digest, "task": dataset.task}


def run_unit(
    study: StudyConfig,
    plan: UnitPlan,
    tracker: Tracker,
    parent: str,
    notify: Notify = ignore,
    bar: Progress | None = None,
    dataset: SequenceDataset | None = None,
) -> UnitOutcome:
    """Load one dataset at one seed and run each of its models not yet done as a child run.

    A model that crashes is FAILED with its traceback and the others go on; a user error (a bad
    setting every model would hit) stops the unit. ``notify`` hears of each child (started,
    finished, failed, kept from before: :mod:`harness.run.progress`); ``bar``: the live display
    whose epoch bars training adds, in this process only. ``dataset``: the dataset already loaded.
    """
    dspec, seed = study.datasets[plan.dataset_index], plan.seed
    if dataset is None:
        fault_point("load")
        dataset = load_dataset(dspec, seed)
    record = DatasetRecord(
        dspec.key,
        seed,
        dataset.task,
        dataset.view("test"),
        {**dataset.meta, "adapter": dspec.adapter},  # claims select datasets by adapter
        dataset.length,
    )
    if not plan.record_logged:
        log_dataset_record(tracker, parent, record)
    out = UnitOutcome(record)
    memo = TrainedMemo()  # a teacher identical to a model of this unit is not trained twice
    data_tags = dataset_tags(dataset, dspec.key)  # one hash of the data per unit
    for mspec in models_for(study, dspec):
        name = unit_key(dspec.key, mspec.key, seed)
        if name in plan.done:
            notify(KEPT, name)
            if study.evaluation.save_models:
                monitor = model_train_config(study, mspec).monitor
                key_of = partial(weights_key, study, mspec, dataset, seed)
                defer_kept(memo, key_of, monitor, tracker, parent, name)
            continue
        tags = {
            **data_tags,
            "model": mspec.key,
            "model_name": mspec.name,
            "seed": str(seed),
            "kind": "child",
            "unit_key": name,
            **owner_tags(),
        }
        run_id = tracker.start_run(name, tags, parent=parent)
        notify(START, name)
        try:
            result = train_one(study, mspec, dataset, dspec.key, seed, tracker, run_id, bar, memo)
        except UserError as err:
            tracker.finish(run_id, error=str(err))
            notify(FAILED, name)
            out.user_error = str(err)
            return out
        except KeyboardInterrupt:
            tracker.finish(run_id, error="interrupted (Ctrl-C)", status="KILLED")
            raise
        except Exception as err:
            failure = RunFailure(dspec.key, mspec.key, seed, failure_reason(err))
            tracker.finish(run_id, error=failure.reason)
            tracker.set_tags(run_id, {"traceback": traceback.format_exc()[-4000:]})
            out.failures.append(failure)
            console.print(f"[red]FAILED[/red] {escape(str(failure))}")
            notify(FAILED, name)
        else:
            tracker.finish(run_id)
            out.results.append(result)
            notify(OK, name)
        fault_point("child_done")
    return out


def exit_with_parent(parent: int) -> None:
    """In a worker process: exit as soon as ``parent`` is gone (killed with ``kill -9``), so no
    orphan keeps training a unit the resumed study will run again."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _unit_worker(
    study_data: dict,
    plan: UnitPlan,
    uri: str,
    experiment: str,
    parent: str,
    notify: Notify = ignore,
) -> UnitOutcome:
    """One unit in a worker process (``run --jobs N``) or a Ray task, with its own MLflow
    client; ``notify`` sends each child's progress to the parent process."""
    study = StudyConfig.model_validate(study_data)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return run_unit(study, plan, Tracker(uri, experiment), parent, notify)
    except UserError as err:
        return UnitOutcome(None, user_error=str(err))


def preload(study: StudyConfig) -> dict[int, SequenceDataset]:
    """Every dataset at the study's first seed, loaded before the store is touched: data an
    adapter cannot read, or a ``train.monitor`` its task lacks, is refused before any run exists
    or any model trains."""
    loaded = {i: _load(d, study.seeds[0]) for i, d in enumerate(study.datasets)}
    for i, dspec in enumerate(study.datasets):
        for mspec in models_for(study, dspec):
            cfg = model_train_config(study, mspec)
            check_monitor(cfg, loaded[i].task, get_model(mspec.name).factory)
    return loaded


def _load(spec: DatasetSpec, seed: int) -> SequenceDataset:
    fault_point("load")
    return load_dataset(spec, seed)


def unit_plans(study: StudyConfig, resumed: Resumed | None) -> list[UnitPlan]:
    """The study's (dataset, seed) units in order, with what a resumed parent already holds."""
    done = frozenset(resumed.results) | frozenset(resumed.failures) if resumed else frozenset()
    logged = resumed.records if resumed else set()
    return [
        UnitPlan(i, seed, done, f"{d.key}__seed{seed}" in logged)
        for i, d in enumerate(study.datasets)
        for seed in study.seeds
    ]


def run_study(
    study: StudyConfig,
    show_progress: bool = True,
    jobs: int = 1,
    fresh: bool = False,
    executor: str = "local",
    ray_address: str | None = None,
) -> StudyOutcome:
    """Run every (dataset, seed, model); children that crash are FAILED, the others go on.

    An unfinished parent of the same study whose process died is resumed (its finished
    children kept, :mod:`harness.run.resume`) unless ``fresh``. ``jobs > 1`` runs (dataset,
    seed) units in that many worker processes (each with ``train.threads`` torch threads), all
    logging to the same store and parent run. ``executor="ray"`` runs each unit as a Ray task
    instead (:mod:`harness.run.ray_executor`; a local instance, or the cluster at
    ``ray_address``), with the same results; ``jobs`` is then unused (Ray schedules by resources).
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    loaded = preload(study)
    experiment = study.tracking.experiment or study.name
    tracker = Tracker(study.tracking.uri, experiment)
    study_yaml = yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)
    fingerprint = study_fingerprint(study.model_dump(mode="json"))
    data = {
        f"{d.key}/seed{study.seeds[0]}": loaded[i].fingerprint()
        for i, d in enumerate(study.datasets)
    }
    resumed, note = claim_unfinished(tracker, study.name, fingerprint, data, fresh)
    if note:
        console.print(note)
    if resumed is not None:
        parent = resumed.parent
    else:
        tags = {"kind": "study", "study": study.name, "study_fingerprint": fingerprint}
        parent = tracker.start_run(study.name, {**tags, **owner_tags()})
        settings = {"seeds": study.seeds, "reference": study.reference, "jobs": jobs}
        tracker.log_params(parent, flatten("", {**settings, "train": study.train.model_dump()}))
        tracker.log_files(parent, {"study.yaml": study_yaml})
        log_environment(tracker, parent)  # environment/: pinned packages, python, torch, CUDA
    plans = unit_plans(study, resumed)
    outcome = StudyOutcome(parent, tracker.uri, tracker.experiment_id)
    try:
        with Heartbeat(tracker, parent):
            done = _run_units(
                study, plans, loaded, tracker, parent, jobs, show_progress, executor, ray_address
            )
            _collect(study, plans, done, resumed, outcome)
            errors = [u.user_error for u in done if u.user_error]
            if errors:
                raise UserError(errors[0])
            finish_study(study, tracker, outcome)
    except BaseException as err:
        tracker.finish(parent, error=f"{type(err).__name__}: {err}")
        raise
    tracker.set_tags(parent, {STUDY_COMPLETE: "true"})
    tracker.finish(parent, error="; ".join(outcome.failures) if outcome.failures else None)
    return outcome


def _run_units(
    study: StudyConfig,
    plans: list[UnitPlan],
    loaded: dict[int, SequenceDataset],
    tracker: Tracker,
    parent: str,
    jobs: int,
    show_progress: bool,
    executor: str = "local",
    ray_address: str | None = None,
) -> list[UnitOutcome]:
    """Every unit, in this process, in ``jobs`` workers or as Ray tasks, under one display."""
    total = len(study.seeds) * sum(len(models_for(study, d)) for d in study.datasets)
    kept = set().union(*(p.done for p in plans)) if plans else set()
    with RunProgress(total, console, show_progress, kept) as display:
        if executor == "ray":
            units = [
                ray_unit(study, p, models_for(study, study.datasets[p.dataset_index]))
                for p in plans
            ]
            data = study.model_dump(mode="json")
            experiment = study.tracking.experiment or study.name
            return run_on_ray(
                units, _unit_worker, data, tracker, experiment, parent, display, ray_address
            )
        if jobs > 1:
            return _run_parallel(study, plans, jobs, tracker, parent, display)
        done = []
        for plan in plans:
            preloaded = loaded.pop(plan.dataset_index) if plan.seed == study.seeds[0] else None
            done.append(run_unit(study, plan, tracker, parent, display, display.bar, preloaded))
            if done[-1].user_error:
                break
        return done


def _collect(
    study: StudyConfig,
    plans: list[UnitPlan],
    done: list[UnitOutcome],
    resumed: Resumed | None,
    outcome: StudyOutcome,
) -> None:
    """Results and failures of this process and of the resumed parent, in the study's order
    (so a resumed study analyses exactly what an uninterrupted one would)."""
    results = dict(resumed.results) if resumed else {}
    failures = {}
    if resumed:
        for key, reason in resumed.failures.items():
            dataset, model, seed = key.rsplit("/", 2)
            failures[key] = RunFailure(dataset, model, int(seed.removeprefix("seed")), reason)
    for unit in done:
        if unit.record is not None:
            outcome.records.append(unit.record)
        results.update({unit_key(r.dataset, r.model, r.seed): r for r in unit.results})
        failures.update({unit_key(f.dataset, f.model, f.seed): f for f in unit.failures})
    for plan in plans:
        dspec = study.datasets[plan.dataset_index]
        for mspec in models_for(study, dspec):
            key = unit_key(dspec.key, mspec.key, plan.seed)
            if key in results:
                outcome.results.append(results[key])
            elif key in failures:
                outcome.failed_runs.append(failures[key])


def _run_parallel(
    study: StudyConfig,
    plans: list[UnitPlan],
    jobs: int,
    tracker: Tracker,
    parent: str,
    display: RunProgress,
) -> list[UnitOutcome]:
    """Units in ``jobs`` spawned processes; results come back in the study's order. Workers
    report each child on a manager queue, so the display shows what is training now."""
    data = study.model_dump(mode="json")
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch threads exist
    experiment = study.tracking.experiment or study.name
    with (
        ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=context,
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        ) as pool,
        worker_events(display, context, exit_with_parent) as notify,
    ):
        futures = {
            pool.submit(_unit_worker, data, plan, tracker.uri, experiment, parent, notify): plan
            for plan in plans
        }
        finished: dict[UnitPlan, UnitOutcome] = {}
        for future in as_completed(futures):
            finished[futures[future]] = future.result()
    return [finished[p] for p in plans]
