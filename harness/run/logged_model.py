"""A trained model as an MLflow logged model: a pyfunc that scores raw DNA strings.

``mlflow.pyfunc.load_model(uri).predict(["ACGT...", ...])`` encodes each sequence exactly like the
adapters do (:mod:`harness.core.encoding`: either case, IUPAC codes read as N, shorter sequences
right-padded with PAD, longer ones center-cropped to the trained length) and returns the
harness's own scores (:func:`harness.core.model.predict`): P(class 1) for binary, class
probabilities for multiclass, the value for regression.

The model is logged through the client with an explicit run id (no fluent active run, like the
rest of :mod:`harness.run.tracking`): a LoggedModel entity linked to the child run as its output,
the pyfunc saved into a temp folder and uploaded as that model's artifacts. Loading needs the
harness importable (the pyfunc rebuilds the network from the model registry by name + params),
so the requirements list the harness's own dependencies and no code is copied per model.
"""

from __future__ import annotations

import io
import logging
import math
import os
import pickle
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.protos.databricks_pb2 import ALREADY_EXISTS, RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema, TensorSpec

from harness.core.dataset import DatasetInfo, Task
from harness.core.encoding import encode_to_length
from harness.core.errors import UserError
from harness.core.metrics import LOWER_IS_BETTER, PRIMARY
from harness.core.model import FittedModel, SequenceModel, predict
from harness.core.registry import get_model
from harness.core.results import RunResult
from harness.run.tracking import Tracker, flatten, split_digest

SEQUENCE_COLUMN = "sequence"
WEIGHTS = "weights"
WEIGHTS_DIR = "artifacts"  # where a pyfunc model keeps its artifacts (here: the weights file)
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
# Pinned to what trained the model; pip_requirements given explicitly so that logging never
# spends seconds inferring them by importing the model in a subprocess.
REQUIREMENTS = ("torch", "numpy", "pandas", "scikit-learn", "scipy", "pydantic", "mlflow")


class SequenceScorer(mlflow.pyfunc.PythonModel):
    """Raw DNA strings in, the harness model's scores out.

    Holds only what rebuilds the model (registry name, params, task, trained length, classes);
    the weights travel as the artifact ``weights``: a torch state dict, or the pickled
    :class:`FittedModel`.
    """

    def __init__(
        self, name: str, params: dict[str, Any], task: Task, length: int, n_classes: int
    ) -> None:
        self.name = name
        self.params = params
        self.task = task
        self.length = length
        self.n_classes = n_classes
        self._model: SequenceModel | FittedModel | None = None

    @property
    def info(self) -> DatasetInfo:
        return DatasetInfo(length=self.length, task=self.task, n_classes=self.n_classes)

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self._model = rebuild(self.name, self.params, self.info, Path(context.artifacts[WEIGHTS]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Scores ``(n,)`` (binary, regression) or ``(n, C)`` (multiclass) for n sequences.

        ``model_input``: what the caller passed, after MLflow's schema check: a list of strings
        arrives as a one-column DataFrame; a DataFrame's ``sequence`` column (else its first)
        holds them. (Annotated as a DataFrame, which MLflow reads as "no signature from type
        hints": the signature is given explicitly.)
        """
        if self._model is None:
            raise RuntimeError("SequenceScorer: load it with mlflow.pyfunc.load_model")
        tokens = encode_to_length(sequences_of(model_input), self.length, "model input")
        return np.asarray(predict(self._model, tokens), dtype=np.float64)


def sequences_of(model_input: Any) -> list[str]:
    """The sequences of a pyfunc input: DataFrame (``sequence`` or first column), Series,
    array, list, or one string."""
    if isinstance(model_input, pd.DataFrame):
        column = SEQUENCE_COLUMN if SEQUENCE_COLUMN in model_input else model_input.columns[0]
        return [str(s) for s in model_input[column]]
    if isinstance(model_input, str):
        return [model_input]
    return [str(s) for s in np.asarray(model_input, dtype=object).ravel()]


def weights_bytes(model: SequenceModel | FittedModel) -> tuple[str, bytes]:
    """``(file name, content)``: the state dict of a torch model, else the pickled estimator."""
    if isinstance(model, torch.nn.Module):
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        return "state_dict.pt", buf.getvalue()
    return "model.pkl", pickle.dumps(model)


def rebuild(
    name: str, params: dict[str, Any], info: DatasetInfo, weights: Path
) -> SequenceModel | FittedModel:
    """The trained model back: a torch model rebuilt from the registry by name and params with
    its state dict loaded (strictly, on the CPU), or the pickled estimator."""
    if weights.suffix == ".pkl":
        with weights.open("rb") as fh:
            return pickle.load(fh)  # our own artifact (weights_bytes)
    entry = get_model(name)
    model = entry.factory(entry.params.model_validate(params), info)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model


def signature(info: DatasetInfo) -> ModelSignature:
    """One string column in (unnamed, so a plain list of strings is accepted too); float scores
    out, ``(n,)`` or ``(n, C)``."""
    shape = (-1, info.n_classes) if info.task == "multiclass" else (-1,)
    return ModelSignature(
        inputs=Schema([ColSpec("string")]),
        outputs=Schema([TensorSpec(np.dtype(np.float64), shape)]),
    )


def input_example(length: int) -> pd.DataFrame:
    """Two sequences: one of the trained length and a shorter one (it is padded). Made up, so
    no training or test example is copied into the model."""
    full = ("ACGT" * math.ceil(length / 4))[:length]
    return pd.DataFrame({SEQUENCE_COLUMN: [full, full[: max(1, length // 2)]]})


def requirements() -> list[str]:
    """The pyfunc's pip requirements, pinned to the installed versions."""
    out = []
    for pkg in REQUIREMENTS:
        try:
            out.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            out.append(pkg)
    return out


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's per-model notes (the cloudpickle caution, input-example validation) and its
    artifact progress bar would print once per child run; errors still show."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    bar = os.environ.get(PROGRESS_BAR)
    logger.setLevel(logging.ERROR)
    os.environ[PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        logger.setLevel(level)
        if bar is None:
            os.environ.pop(PROGRESS_BAR, None)
        else:
            os.environ[PROGRESS_BAR] = bar


@dataclass(frozen=True)
class ModelCard:
    """What a logged model records beside its weights."""

    name: str  # the logged model's name: the study's model key
    registry_name: str  # the registered model class
    params: dict[str, Any]
    info: DatasetInfo
    tags: dict[str, str]


def log_sequence_model(
    client: MlflowClient,
    experiment_id: str,
    run_id: str,
    model: SequenceModel | FittedModel,
    card: ModelCard,
    metrics: list[Metric],
) -> tuple[str, float]:
    """Log ``model`` as the run's logged model; returns ``(model_id, seconds spent)``.

    ``metrics`` (the run's final figures, with their dataset where they have one) are linked to
    the model too, as ``mlflow.log_model`` does, so the model page shows them.
    """
    start = time.perf_counter()
    logged = client.create_logged_model(
        experiment_id,
        name=card.name,
        source_run_id=run_id,
        params=flatten("", card.params),
        tags=card.tags,
        model_type=card.registry_name,
    )
    try:
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        with tempfile.TemporaryDirectory() as tmp:
            file_name, content = weights_bytes(model)
            weights = Path(tmp, file_name)
            weights.write_bytes(content)
            scorer = SequenceScorer(
                card.registry_name,
                card.params,
                card.info.task,
                card.info.length,
                card.info.n_classes,
            )
            mlflow_model = Model(
                artifact_path=logged.artifact_location,
                model_uuid=logged.model_id,
                run_id=run_id,
                model_id=logged.model_id,
            )
            with _quiet_mlflow():
                mlflow.pyfunc.save_model(
                    Path(tmp, "model"),
                    python_model=scorer,
                    artifacts={WEIGHTS: str(weights)},
                    signature=signature(card.info),
                    input_example=input_example(card.info.length),
                    pip_requirements=requirements(),
                    mlflow_model=mlflow_model,
                )
            client.log_model_artifacts(logged.model_id, str(Path(tmp, "model")))
        linked = [
            Metric(m.key, m.value, m.timestamp, m.step, logged.model_id, *_dataset_of(m))
            for m in metrics
        ]
        for i in range(0, len(linked), 500):
            client.log_batch(run_id, metrics=linked[i : i + 500])
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged.model_id, time.perf_counter() - start


def _dataset_of(metric: Metric) -> tuple[str | None, str | None]:
    return metric.dataset_name, metric.dataset_digest


def model_id_of(client: MlflowClient, run_id: str) -> str | None:
    """The logged model a child run produced (its first model output), if any."""
    outputs = client.get_run(run_id).outputs
    models = outputs.model_outputs if outputs is not None else []
    return models[0].model_id if models else None


def logged_state_dict(client: MlflowClient, run_id: str) -> dict[str, torch.Tensor] | None:
    """The torch state dict of a child run's logged model; None when the run logged no model or
    a closed-form one."""
    model_id = model_id_of(client, run_id)
    if model_id is None:
        return None
    location = client.get_logged_model(model_id).artifact_location
    with tempfile.TemporaryDirectory() as tmp, _quiet_mlflow():
        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location}/{WEIGHTS_DIR}/state_dict.pt",
                dst_path=tmp,
                tracking_uri=client.tracking_uri,
            )
        except (MlflowException, OSError):
            return None
        return torch.load(path, map_location="cpu", weights_only=True)


# Registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    """One registered model version: which child it came from and why it was chosen."""

    name: str
    version: str
    dataset: str
    model: str
    seed: int
    metric: str
    value: float

    def describe(self) -> str:
        """``dataset/model/seedN (best_val_<m> = v)``: which child, and why."""
        return f"{self.dataset}/{self.model}/seed{self.seed} ({self.metric} = {self.value:.4g})"


def best_results(results: list[RunResult]) -> list[tuple[RunResult, str]]:
    """Per dataset, the child with the best ``best_val_<primary metric>`` (validation, never
    test), with that metric's name; datasets in the study's order."""
    best: dict[str, tuple[RunResult, str]] = {}
    for result in results:
        metric = f"best_val_{PRIMARY[result.task]}"
        value = result.compute.get(metric, float("nan"))
        if not math.isfinite(value):
            continue
        held = best.get(result.dataset)
        if held is None or _better(metric, value, held[0].compute[metric]):
            best[result.dataset] = (result, metric)
    return list(best.values())


def _better(metric: str, value: float, than: float) -> bool:
    lower = metric.removeprefix("best_val_") in LOWER_IS_BETTER
    return value < than if lower else value > than


def register_best(uri: str, name: str, results: list[RunResult]) -> list[Registered]:
    """Register, under ``name``, the logged model of the best child of each dataset (one
    version per dataset; a single-dataset study gets one). Through a client on the study's
    own store rather than ``mlflow.register_model``, which reads the global tracking URI."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    chosen = best_results(results)
    if not chosen:
        raise UserError(f"--register {name}: no finished run with a validation metric to rank")
    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code not in (
            ErrorCode.Name(RESOURCE_ALREADY_EXISTS),
            ErrorCode.Name(ALREADY_EXISTS),
        ):
            raise
    out = []
    for result, metric in chosen:
        model_id = model_id_of(client, result.run_id) if result.run_id else None
        if model_id is None:
            raise UserError(
                f"--register {name}: run {result.run_id} ({result.dataset}/{result.model}/"
                f"seed{result.seed}) has no logged model (evaluation.save_models: false?)"
            )
        value = float(result.compute[metric])
        version = client.create_model_version(
            name,
            source=f"models:/{model_id}",
            run_id=result.run_id,
            model_id=model_id,
            tags={"dataset": result.dataset, "model": result.model, metric: str(value)},
        )
        out.append(
            Registered(
                name, str(version.version), result.dataset, result.model, result.seed, metric, value
            )
        )
    return out


def check_register_name(name: str, save_models: bool) -> None:
    """Refuse a ``--register`` that cannot work before the study runs."""
    if not name.strip() or "/" in name or ":" in name:
        raise UserError(
            f"--register: invalid registered model name {name!r} (no '/' or ':', not empty)"
        )
    if not save_models:
        raise UserError(
            "--register: the study sets evaluation.save_models: false, so no model is logged "
            "to register (set it to true)"
        )


def save_model(
    tracker: Tracker,
    run_id: str,
    model: SequenceModel | FittedModel,
    card: ModelCard,
    result: RunResult,
    fingerprint: str,
) -> str:
    """The run's logged model (a :class:`SequenceScorer` pyfunc scoring raw sequences,
    with the state dict or pickled estimator as its weights); returns its model id.

    The run's final figures are linked to the model, test ones with the test split and
    ``best_val_*`` with the validation split as their dataset; the seconds spent logging the
    model are the run's metric ``log_model_seconds``.
    """
    now = int(time.time() * 1000)
    figures = {f"test_{k}": (v, "test") for k, v in {**result.metrics, **result.extra}.items()}
    figures.update({k: (v, "val") for k, v in result.compute.items() if k.startswith("best_val_")})
    linked = [
        Metric(
            k,
            float(v),
            now,
            0,
            dataset_name=result.dataset,
            dataset_digest=split_digest(fingerprint, part),
        )
        for k, (v, part) in figures.items()
        if v is not None and math.isfinite(float(v))
    ]
    model_id, seconds = log_sequence_model(
        tracker.client, tracker.experiment_id, run_id, model, card, linked
    )
    tracker.log_metrics(run_id, {"log_model_seconds": seconds})
    return model_id
