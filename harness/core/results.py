"""What one trained (dataset, model, seed) produced: consumed by tracking, stats and the report.

Nothing downstream of this retrains a model or reloads data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.core.dataset import SplitView

# The per-run cost figures (``RunResult.compute``) that the compute table reports, in its order.
COMPUTE_FIELDS = (
    "n_params",
    "macs_per_seq",
    "attention_macs_per_seq",
    "train_seconds",
    "seconds_per_epoch",
    "peak_rss_mb",
    "epochs_run",
)


@dataclass
class RunResult:
    """Results of one child run.

    Attributes
    ----------
    dataset, model : labels from the study (``DatasetSpec.key``, ``ModelSpec.key``)
    model_name : registered model name
    seed : training seed
    task : "binary" | "multiclass" | "regression"
    metrics : test metrics without prefix, e.g. ``{"accuracy": 0.9, "auroc": 0.95}``
    baseline_metrics : the same metrics for the constant predictor on the same test split
    y_true : (n_test,) ; y_score : (n_test,) or (n_test, C) ; ids : (n_test,) str
    importance : (m, L) per-position importance of the test rows ``importance_index``, or None
    importance_index : int (m,) sorted test rows of ``importance`` (the seeded, class-balanced
        analysis subset, :func:`harness.core.subsets.analysis_subset`); None only when
        ``importance`` covers the whole test split in order
    threshold : the binary decision threshold chosen on validation (accuracy, F1 and MCC call
        class 1 at ``y_score >= threshold``); 0.5 for other tasks
    ablation : curves of test accuracy (or Pearson) as positions are masked, keyed by order
        ("high_to_low", "low_to_high", "random") plus "n_masked": the x axis; "chance" (1,): the
        constant predictor's metric on the curves' rows, "index" (a,): those test rows
    curves : per-epoch metrics (``train_loss``, ``val_<m>``, ...)
    compute : n_params, macs_per_seq, train_seconds, seconds_per_epoch, peak_rss_mb, ...
    extra : model-specific figures (fidelity to a teacher, selection overlap, ...)
    run_id : the MLflow child run id
    """

    dataset: str
    model: str
    model_name: str
    seed: int
    task: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    y_true: np.ndarray
    y_score: np.ndarray
    ids: np.ndarray
    importance: np.ndarray | None = None
    importance_index: np.ndarray | None = None
    threshold: float = 0.5
    ablation: dict[str, np.ndarray] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    compute: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""


@dataclass
class DatasetRecord:
    """The test split a dataset had at one seed, with its metadata (for enrichment and plots)."""

    dataset: str
    seed: int
    task: str
    test: SplitView
    meta: dict[str, Any]
    length: int
