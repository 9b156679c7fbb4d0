"""MLflow logging: one parent run per invocation, one child run per (dataset, model, seed).

The client API is used with explicit run ids (no fluent active-run state), so that tuning workers
and nested runs never depend on global state.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from filelock import FileLock
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from harness.config.study import check_tracking_uri
from harness.core.dataset import SPLITS, SequenceDataset
from harness.core.errors import UserError
from harness.core.results import DatasetRecord, RunResult
from harness.core.subsets import importance_rows

DEFAULT_STORE = Path("mlruns")
PACKAGES = ("torch", "numpy", "mlflow", "optuna", "scikit-learn", "scipy", "genomic-benchmarks")
_MAX_PARAM = 6000
# MLflow 3's UI picks an experiment's view from this tag: model training, not the GenAI view.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
DATASET_CONTEXT_TAG = "mlflow.data.context"  # what mlflow.log_input(context=...) writes


def resolve_uri(uri: str | None, create: bool = True) -> str:
    """Study setting, else ``$MLFLOW_TRACKING_URI``, else the embedded SQLite store in mlruns/.

    ``create=False`` (commands that only read runs): a SQLite store that does not exist is a
    one-line :class:`UserError`, not a new empty store.
    """
    if uri:
        found = check_tracking_uri(uri, "--tracking-uri")
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        found = check_tracking_uri(os.environ["MLFLOW_TRACKING_URI"], "$MLFLOW_TRACKING_URI")
    else:
        found = f"sqlite:///{(DEFAULT_STORE / 'mlflow.db').resolve()}"
    path = sqlite_path(found)
    if path is not None and not path.is_file():
        if not create:
            raise UserError(
                f"no MLflow store at {path} (run a study first, or give --tracking-uri)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"tracking.uri: cannot create {path.parent}: {err.strerror}") from None
    return found


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (``sqlite:///rel.db`` and ``sqlite:////abs.db``)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?")[0])


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
    return {**tags, **{f"version.{pkg}": v for pkg, v in _versions().items()}}


def store_lock(uri: str) -> contextlib.AbstractContextManager:
    """A file lock beside a SQLite store: its creation and schema migration are not safe when
    several processes open a fresh file at once. Servers and RDBs serialise themselves."""
    path = sqlite_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(f"{path}.lock", timeout=600)
    return contextlib.nullcontext()


class Tracker:
    """Writes runs of one experiment to one tracking store."""

    def __init__(self, uri: str | None, experiment: str) -> None:
        self.uri = resolve_uri(uri)
        try:
            with store_lock(self.uri):  # the client creates and migrates a new store
                self.client = MlflowClient(tracking_uri=self.uri)
                self.experiment_id = self._experiment(experiment)
        except Exception as err:  # any store error: bad URI, unreachable server, locked file
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise UserError(
                f"tracking.uri: cannot open MLflow store {self.uri!r}: {first}"
            ) from None

    def _experiment(self, name: str) -> str:
        """Get or create: another process may create the same experiment between the two."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if EXPERIMENT_KIND_TAG not in found.tags:  # made before the tag: a kind it lacks
                self.client.set_experiment_tag(
                    found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
                )
            return found.experiment_id
        location = None
        if self.uri.startswith("sqlite:///") and "MLFLOW_TRACKING_URI" not in os.environ:
            location = (DEFAULT_STORE / "artifacts").resolve().as_uri()
        try:
            return self.client.create_experiment(
                name, location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
            )
        except MlflowException:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    # runs ---------------------------------------------------------------------------------
    def start_run(self, name: str, tags: dict[str, str], parent: str | None = None) -> str:
        all_tags = {**environment_tags(), **tags}
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        return run.info.run_id

    def finish(self, run_id: str, error: str | None = None, status: str = "FAILED") -> None:
        """Close a run: FINISHED, or ``status`` (FAILED, KILLED) with the reason as tag
        ``error``."""
        if error is not None:
            self.client.set_tag(run_id, "error", error[:5000])
            self.client.set_tag(run_id, "state", status)
            self.client.set_terminated(run_id, status)
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

    def log_inputs(self, run_id: str, inputs: list[DatasetInput]) -> None:
        """The datasets a run read (:func:`dataset_inputs`), shown in the run's Datasets."""
        self.client.log_inputs(run_id, datasets=inputs)


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
    files.update(result_files(result))
    tracker.log_files(run_id, files)


# The exact RunResult, so a resumed study analyses a finished child without training it again.
_RESULT_FIELDS = (
    "dataset",
    "model",
    "model_name",
    "seed",
    "task",
    "metrics",
    "baseline_metrics",
    "threshold",
    "curves",
    "compute",
    "extra",
    "params",
)


def result_files(result: RunResult) -> dict[str, bytes | str]:
    """``result/run.json`` (every scalar field) and ``result/arrays.npz`` (labels, scores, ids)
    beside the user-facing files; importance and ablation are read back from their own npz."""
    scalars = {name: getattr(result, name) for name in _RESULT_FIELDS}
    ids = np.asarray(result.ids).astype(str)  # never object arrays: read back without pickle
    arrays = npz_bytes(y_true=result.y_true, y_score=result.y_score, ids=ids)
    return {"result/run.json": json.dumps(scalars, default=_plain), "result/arrays.npz": arrays}


def _plain(value: Any) -> Any:
    # numpy scalars and arrays as their exact Python values
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)


def load_result(client: MlflowClient, run_id: str) -> RunResult:
    """The :class:`RunResult` a finished child run logged (:func:`log_result`), exactly."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(client.download_artifacts(run_id, "", tmp))
        scalars = json.loads((folder / "result" / "run.json").read_text())
        arrays = _npz(folder / "result" / "arrays.npz")
        importance = _npz(folder / "importance.npz")
        ablation = _npz(folder / "ablation.npz")
    return RunResult(
        **scalars,
        y_true=arrays["y_true"],
        y_score=arrays["y_score"],
        ids=arrays["ids"],
        importance=importance.get("importance"),
        importance_index=importance.get("index"),
        ablation=ablation,
        run_id=run_id,
    )


def _npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


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


# MLflow-native records: dataset inputs and the environment ------------------------------------


def split_digest(fingerprint: str, split: str) -> str:
    """The digest of one split as a dataset input: the dataset's fingerprint (the children's
    ``dataset_fingerprint`` tag) and the split. Each split needs its own digest, since MLflow
    keeps one input per (name, digest)."""
    return f"{fingerprint}-{split}"


def _label_profile(task: str, labels: np.ndarray) -> dict[str, Any]:
    if task == "regression":
        values = labels.astype(np.float64)
        return {"label_mean": float(values.mean()), "label_std": float(values.std())}
    classes, counts = np.unique(labels, return_counts=True)
    return {"class_counts": {str(int(c)): int(n) for c, n in zip(classes, counts, strict=True)}}


def dataset_inputs(
    dataset: SequenceDataset, key: str, source: dict[str, Any], fingerprint: str | None = None
) -> list[DatasetInput]:
    """One MLflow dataset input per split (context tag = the split), named after the dataset.

    The schema describes the tokens and labels and the profile gives each split's size, length,
    task and class balance (or label mean and spread): computed from the labels only, so no
    tokens are copied. ``source``: the adapter and its params; ``fingerprint`` as already
    computed (else computed here).
    """
    fingerprint = fingerprint or dataset.fingerprint()
    length = dataset.length
    features = [{"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, length]}}]
    label = {"type": "tensor", "tensor-spec": {"dtype": str(dataset.labels.dtype), "shape": [-1]}}
    schema = json.dumps(
        {"mlflow_tensorspec": {"features": json.dumps(features), "targets": json.dumps([label])}}
    )
    inputs = []
    for split in SPLITS:
        index = dataset.split[split]
        profile = {
            "num_rows": len(index),
            "length": length,
            "task": dataset.task,
            **_label_profile(dataset.task, dataset.labels[index]),
        }
        entity = Dataset(
            name=key,
            digest=split_digest(fingerprint, split),
            source_type="harness_adapter",
            source=json.dumps(source, default=str, sort_keys=True),
            schema=schema,
            profile=json.dumps(profile),
        )
        inputs.append(DatasetInput(entity, tags=[InputTag(DATASET_CONTEXT_TAG, split)]))
    return inputs


def _installed() -> str:
    """``name==version`` of every installed distribution, like ``pip freeze`` (no subprocess)."""
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = f"{name}=={dist.version}"
    return "".join(f"{found[k]}\n" for k in sorted(found))


def environment_info() -> dict[str, Any]:
    """Python, platform, torch and CUDA facts of this process (what trained the models)."""
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if cuda else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
        "git_commit": git_commit(),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (:data:`PACKAGES`)."""
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def log_environment(tracker: Tracker, run_id: str) -> None:
    """``environment/requirements.txt`` (every installed package, pinned) and
    ``environment/platform.json`` (:func:`environment_info`) on a parent run."""
    files: dict[str, bytes | str] = {
        "requirements.txt": _installed(),
        "platform.json": json.dumps(environment_info(), indent=1),
    }
    tracker.log_files(run_id, files, "environment")


SYSTEM_METRICS_SWITCH = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"  # MLflow's own switch


@contextlib.contextmanager
def system_metrics(tracker: Tracker, run_id: str) -> Iterator[None]:
    """CPU, memory, disk, network and GPU metrics (``system/*``) sampled for ``run_id`` while the
    block runs, when MLflow's switch ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING`` is on (``harness
    run --system-metrics`` sets it). Off by default: a sampling thread per run."""
    if os.environ.get(SYSTEM_METRICS_SWITCH, "").lower() not in ("true", "1"):
        yield
        return
    try:
        from mlflow.system_metrics.system_metrics_monitor import (  # noqa: PLC0415 (needs psutil, optional)
            SystemMetricsMonitor,
        )
    except ImportError as err:
        raise UserError(
            f"system metrics ({SYSTEM_METRICS_SWITCH}) need psutil: pip install psutil, or turn "
            f"them off ({err})"
        ) from None
    monitor = SystemMetricsMonitor(run_id, tracking_uri=tracker.uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
