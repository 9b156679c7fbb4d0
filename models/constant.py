"""The do-nothing baseline: the training prior, whatever the sequence."""

from __future__ import annotations

import numpy as np

from harness.core.dataset import DatasetInfo, SplitView
from harness.core.metrics import compute_metrics, constant_scores
from harness.core.model import FittedModel
from harness.core.registry import Params, register_model


class ConstantParams(Params):
    """No parameters."""


def validation_loss(task: str, labels: np.ndarray, scores: np.ndarray) -> float:
    """The trainer's validation loss for scores: BCE (binary), NLL (multiclass), MSE
    (regression); probabilities are clipped as the trainer does."""
    labels = np.asarray(labels)
    if task == "binary":
        p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
        y = labels.astype(np.float64)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    if task == "multiclass":
        p = np.clip(np.asarray(scores, dtype=np.float64), 1e-12, None)
        return float(-np.mean(np.log(p[np.arange(len(labels)), labels.astype(int)])))
    return float(np.mean((np.asarray(scores, dtype=np.float64) - labels) ** 2))


@register_model("constant", ConstantParams)
class ConstantModel(FittedModel):
    """Constant predictor: training class frequencies (classification) or mean (regression).

    Importance is zero everywhere and inference costs no MACs. Scores come from
    :func:`harness.core.metrics.constant_scores`, the same reference the reports use.
    """

    role = "baseline"  # the floor: a model that does not beat it learned nothing

    def __init__(self, params: ConstantParams, info: DatasetInfo) -> None:
        super().__init__(info)
        self.params = params
        self.train_labels: np.ndarray | None = None

    def fit(self, train: SplitView, val: SplitView) -> dict[str, float]:
        self.train_labels = np.asarray(train.labels)
        if not len(val):
            return {}
        scores = self.predict(val.tokens)
        metrics = compute_metrics(self.info.task, val.labels, scores)
        metrics["loss"] = validation_loss(self.info.task, val.labels, scores)
        return metrics

    def predict(self, tokens: np.ndarray) -> np.ndarray:
        if self.train_labels is None:
            raise RuntimeError("constant: call fit before predict")
        return constant_scores(self.info.task, self.train_labels, len(tokens), self.info.n_classes)

    def importance(self, tokens: np.ndarray) -> np.ndarray:
        return np.zeros(np.asarray(tokens).shape, dtype=np.float64)

    def macs(self, length: int) -> int:
        return 0

    @property
    def n_params(self) -> int:
        """Fitted numbers: one mean / frequency, or one per class."""
        if self.train_labels is None:
            return 0
        return self.info.n_classes if self.info.task == "multiclass" else 1
