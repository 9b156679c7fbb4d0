"""Linear models on fixed sequence features, fitted by scikit-learn: the shared part of the
k-mer and one-hot baselines (C chosen on validation, scores, coefficients)."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from pydantic import Field
from scipy import sparse
from sklearn.linear_model import LogisticRegression, Ridge

from harness.core.dataset import DatasetInfo, SplitView
from harness.core.metrics import PRIMARY, compute_metrics
from harness.core.model import FittedModel
from harness.core.registry import Params
from models.constant import validation_loss


class LinearParams(Params):
    C: float = Field(
        1.0, gt=0, description="inverse L2 regularisation strength (Ridge alpha = 1 / C)"
    )
    select_on_val: bool = Field(
        True, description="choose C from {C/100, C/10, C, 10C, 100C} by the validation metric"
    )
    max_iter: int = Field(2000, ge=10, description="solver iterations (logistic regression)")


class LinearOnFeatures(FittedModel):
    """L2 logistic regression (binary/multiclass) or ridge (regression) on ``_features(tokens)``,
    ``C`` optionally chosen on the validation split by the task's primary metric."""

    role = "baseline"

    def __init__(self, params: LinearParams, info: DatasetInfo) -> None:
        super().__init__(info)
        self.params = params
        self.estimator: LogisticRegression | Ridge | None = None
        self.chosen_C = params.C

    @abstractmethod
    def _features(self, tokens: np.ndarray) -> sparse.csr_matrix:
        """Sparse ``(n, n_features)`` design matrix of ``(n, L)`` tokens."""

    def _make(self, c: float) -> LogisticRegression | Ridge:
        if self.info.task == "regression":
            return Ridge(alpha=1.0 / c)
        return LogisticRegression(C=c, max_iter=self.params.max_iter)

    def _scores(self, estimator: LogisticRegression | Ridge, x: sparse.csr_matrix) -> np.ndarray:
        if self.info.task == "regression":
            return estimator.predict(x)
        proba = estimator.predict_proba(x)
        return proba[:, 1] if self.info.task == "binary" else proba

    def fit(self, train: SplitView, val: SplitView) -> dict[str, float]:
        x_train, x_val = self._features(train.tokens), self._features(val.tokens)
        candidates = [self.params.C]
        if self.params.select_on_val and len(val):
            candidates = [self.params.C * f for f in (0.01, 0.1, 1.0, 10.0, 100.0)]
        fits = [(c, self._make(c).fit(x_train, train.labels)) for c in candidates]
        self.chosen_C, self.estimator = max(
            fits, key=lambda fit: self._val_score(fit[1], x_val, val)
        )
        if not len(val):
            return {"C": self.chosen_C}
        scores = self._scores(self.estimator, x_val)
        metrics = compute_metrics(self.info.task, val.labels, scores)
        metrics["loss"] = validation_loss(self.info.task, val.labels, scores)
        metrics["C"] = self.chosen_C
        return metrics

    def _val_score(
        self, estimator: LogisticRegression | Ridge, x_val: sparse.csr_matrix, val: SplitView
    ) -> float:
        """The primary validation metric (higher is better); -inf when undefined."""
        if not len(val):
            return 0.0
        value = compute_metrics(self.info.task, val.labels, self._scores(estimator, x_val))
        primary = value[PRIMARY[self.info.task]]
        return float(primary) if np.isfinite(primary) else float("-inf")

    def predict(self, tokens: np.ndarray) -> np.ndarray:
        return self._scores(self._fitted(), self._features(tokens))

    def _fitted(self) -> LogisticRegression | Ridge:
        if self.estimator is None:
            raise RuntimeError(f"{type(self).__name__}: call fit before predict or importance")
        return self.estimator

    def _coefficients(self) -> np.ndarray:
        """``(n_features, n_rows)``: one column per decision function (1, or C for multiclass)."""
        coef = np.atleast_2d(self._fitted().coef_)
        return coef.T

    @property
    def n_params(self) -> int:
        """Fitted coefficients and intercepts (0 before fitting)."""
        if self.estimator is None:
            return 0
        return int(np.size(self.estimator.coef_) + np.size(self.estimator.intercept_))
