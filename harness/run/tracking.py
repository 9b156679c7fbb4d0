"""MLflow logging: one parent run per invocation, one child run per (dataset, model, seed).

The client API is used with explicit run ids (no fluent active-run state), so that tuning workers
and nested runs never depend on global state.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from harness.core.errors import UserError
from harness.core.results import DatasetRecord, RunResult
from harness.core.subsets import importance_rows

DEFAULT_STORE = Path("mlruns")
PACKAGES = ("torch", "numpy", "mlflow", "optuna", "scikit-learn", "scipy", "genomic-benchmarks")
_MAX_PARAM = 6000


def resolve_uri(uri: str | None) -> str:
    """Study setting, else ``$MLFLOW_TRACKING_URI``, else the embedded SQLite store in mlruns/."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    DEFAULT_STORE.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(DEFAULT_STORE / 'mlflow.db').resolve()}"


def flatten(prefix: str, value: Any) -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"prefix.a.b": "1"}`` for MLflow params (dotted keys)."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return {prefix: text[:_MAX_PARAM]}


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_tags() -> dict[str, str]:
    tags = {"git_commit": git_commit(), "python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            tags[f"version.{pkg}"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return tags


class Tracker:
    """Writes runs of one experiment to one tracking store."""

    def __init__(self, uri: str | None, experiment: str) -> None:
        self.uri = resolve_uri(uri)
        self.client = MlflowClient(tracking_uri=self.uri)
        try:
            found = self.client.get_experiment_by_name(experiment)
        except Exception as err:  # any store error: bad URI, unreachable server, locked file
            raise UserError(f"tracking.uri: cannot open MLflow store {self.uri!r}: {err}") from None
        if found is not None:
            self.experiment_id = found.experiment_id
        else:
            location = None
            if self.uri.startswith("sqlite:///") and "MLFLOW_TRACKING_URI" not in os.environ:
                location = (DEFAULT_STORE / "artifacts").resolve().as_uri()
            self.experiment_id = self.client.create_experiment(experiment, location)

    # runs ---------------------------------------------------------------------------------
    def start_run(self, name: str, tags: dict[str, str], parent: str | None = None) -> str:
        all_tags = {**environment_tags(), **tags}
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        return run.info.run_id

    def finish(self, run_id: str, error: str | None = None) -> None:
        """Close a run: FINISHED, or FAILED with the reason as tag ``error``."""
        if error is not None:
            self.client.set_tag(run_id, "error", error[:5000])
            self.client.set_tag(run_id, "state", "FAILED")
            self.client.set_terminated(run_id, "FAILED")
        else:
            self.client.set_tag(run_id, "state", "COMPLETE")
            self.client.set_terminated(run_id, "FINISHED")

    # values -------------------------------------------------------------------------------
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        flat = flatten("", params)
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if v is not None and np.isfinite(float(v))
        ]
        for i in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[i : i + 500])

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_files(self, run_id: str, files: dict[str, bytes | str], artifact_dir: str = "") -> None:
        """Write ``{relative name: content}`` to a temp dir and log it under ``artifact_dir``."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                path = Path(tmp, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content.encode() if isinstance(content, str) else content)
            if artifact_dir:
                self.client.log_artifacts(run_id, tmp, artifact_dir)
            else:
                self.client.log_artifacts(run_id, tmp)

    def log_dir(self, run_id: str, local: Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifacts(run_id, str(local), artifact_dir)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    with tempfile.TemporaryFile() as fh:
        np.savez_compressed(fh, **arrays)
        fh.seek(0)
        return fh.read()


def predictions_csv(result: RunResult) -> str:
    """Per-example test predictions with ids, so two runs can be paired example by example."""
    frame = pd.DataFrame({"example_id": result.ids, "y_true": result.y_true})
    if result.y_score.ndim == 2:
        for c in range(result.y_score.shape[1]):
            frame[f"y_score_{c}"] = result.y_score[:, c]
    else:
        frame["y_score"] = result.y_score
    return frame.to_csv(index=False)


def importance_arrays(result: RunResult) -> dict[str, np.ndarray]:
    """What ``importance.npz`` holds: ``importance`` (m, L), its test rows ``index`` (m,) and
    their ``example_id`` (m,); rows and ids only when they are known (recorded, or the whole
    split), never guessed."""
    arrays = {"importance": result.importance}
    try:
        rows = importance_rows(result)
    except UserError:
        return arrays
    return {**arrays, "index": rows, "example_id": result.ids[rows]}


def log_result(tracker: Tracker, result: RunResult) -> None:
    """Final metrics and artifacts of one child run; ``importance.npz`` holds the importance, its
    test rows (``index``, the analysis subset) and their example ids."""
    run_id = result.run_id
    metrics = {f"test_{k}": v for k, v in result.metrics.items()}
    metrics.update({f"baseline_test_{k}": v for k, v in result.baseline_metrics.items()})
    metrics.update({f"test_{k}": v for k, v in result.extra.items()})
    metrics.update(result.compute)
    tracker.log_metrics(run_id, metrics)
    files: dict[str, bytes | str] = {"predictions.csv": predictions_csv(result)}
    if result.importance is not None:
        files["importance.npz"] = npz_bytes(**importance_arrays(result))
    if result.ablation:
        files["ablation.npz"] = npz_bytes(**result.ablation)
    files["curves.json"] = json.dumps(result.curves)
    tracker.log_files(run_id, files)


def log_dataset_record(tracker: Tracker, parent: str, record: DatasetRecord) -> None:
    """The test split of one (dataset, seed) on the parent run, so reports can be rebuilt."""
    test = record.test
    arrays = {"tokens": test.tokens, "labels": test.labels, "ids": test.ids}
    arrays.update({f"ann_{k}": v for k, v in test.annotations.items()})
    stem = f"{record.dataset}__seed{record.seed}"
    info = {
        "dataset": record.dataset,
        "seed": record.seed,
        "task": record.task,
        "length": record.length,
        "meta": record.meta,
    }
    tracker.log_files(
        parent,
        {f"{stem}.npz": npz_bytes(**arrays), f"{stem}.json": json.dumps(info, default=str)},
        "datasets",
    )
