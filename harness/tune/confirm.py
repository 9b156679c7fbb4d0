"""After the search: the best trial as a ready-to-run study, and the confirm step that trains
the tuned model and the model's defaults over the study's seeds and tests them once on test.

Selecting the best of many trials on validation overstates how good it is; the confirm step
measures the gain on data the search never saw, with paired tests over seeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.trial import FrozenTrial

from harness.analysis.seed_tests import paired_seed_tests
from harness.config.load import parse_study
from harness.config.study import ModelSpec, StudyConfig, TrackingConfig
from harness.config.tune import TunePlan
from harness.core.metrics import PRIMARY
from harness.core.results import RunResult
from harness.run.finish import StudyOutcome
from harness.run.runner import run_study
from harness.run.tracking import Tracker
from harness.tune.progress import console


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
            "baselines": None,  # the study's baselines are not among the two confirm entries
            "tune": None,
            "tracking": TrackingConfig(uri=tracking_uri, experiment=plan.experiment),
        }
    )
    return parse_study(derived.model_dump(mode="json"), "confirm study")


def confirm_metric(plan: TunePlan, task: str, available: set[str]) -> str:
    """The objective's test counterpart (val_auroc -> auroc), else the task's primary metric."""
    name = plan.metric[4:]
    return name if name in available else PRIMARY[task]


def paired_by_seed(
    results: list[RunResult], tuned: str, default: str, metric: str
) -> tuple[list[int], list[float], list[float]]:
    """``(seeds, tuned values, default values)`` over the seeds where both models finished."""
    by_key: dict[str, dict[int, dict[str, float]]] = {tuned: {}, default: {}}
    for r in results:
        by_key[r.model][r.seed] = r.metrics
    seeds = sorted(set(by_key[tuned]) & set(by_key[default]))
    a = [by_key[tuned][s].get(metric, float("nan")) for s in seeds]
    b = [by_key[default][s].get(metric, float("nan")) for s in seeds]
    return seeds, a, b


def confirm_result(
    plan: TunePlan, derived: StudyConfig, outcome: StudyOutcome, best: FrozenTrial
) -> dict[str, Any]:
    """Per-seed test values of both models, their means and the paired tests over seeds."""
    first = outcome.results[0] if outcome.results else None
    task = first.task if first else "binary"
    metric = confirm_metric(plan, task, set(first.metrics) if first else set())
    tuned_key, default_key = (m.key for m in derived.models)
    seeds, a, b = paired_by_seed(outcome.results, tuned_key, default_key, metric)
    return {
        "metric": f"test_{metric}",
        "seeds": seeds,
        "tuned": a,
        "default": b,
        "tuned_mean": float(np.mean(a)) if a else float("nan"),
        "default_mean": float(np.mean(b)) if b else float("nan"),
        **paired_seed_tests(a, b),
        "run_id": outcome.parent_run_id,
        "failures": outcome.failures,
        "trial": best.number,
    }


def log_confirm(tracker: Tracker, parent: str, result: dict[str, Any]) -> None:
    """``confirm.*`` metrics, ``confirm.csv`` (per seed) and ``confirm.json`` on the parent."""
    numeric = {k: v for k, v in result.items() if isinstance(v, int | float)}
    tracker.log_metrics(parent, {f"confirm.{k}": v for k, v in numeric.items()})
    rows = ["seed,tuned,default,diff"] + [
        f"{s},{x},{y},{x - y}"
        for s, x, y in zip(result["seeds"], result["tuned"], result["default"], strict=True)
    ]
    tracker.log_files(
        parent,
        {"confirm.csv": "\n".join(rows) + "\n", "confirm.json": json.dumps(result, indent=2)},
    )


def run_confirm(
    plan: TunePlan, best: FrozenTrial, tracker: Tracker, parent: str, show_progress: bool
) -> dict[str, Any]:
    """Train best and default over the study's seeds, test once, paired tests over seeds."""
    derived = confirm_study(plan, best.params, tracker.uri)
    outcome = run_study(derived, show_progress=show_progress)
    tracker.set_tags(outcome.parent_run_id, {"mlflow.parentRunId": parent, "tune_parent": parent})
    tracker.set_tags(parent, {"confirm_run_id": outcome.parent_run_id})
    result = confirm_result(plan, derived, outcome, best)
    log_confirm(tracker, parent, result)
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
