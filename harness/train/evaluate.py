"""The only place the test split is used: after training and selection are finished."""

from __future__ import annotations

import numpy as np
import torch

from harness.config.study import EvaluationConfig
from harness.core.dataset import SequenceDataset, SplitView
from harness.core.metrics import compute_metrics, constant_scores
from harness.core.model import FittedModel, SequenceModel, predict
from harness.train.ablation import ablation_curves

Model = SequenceModel | FittedModel


def compute_importance(
    model: Model, tokens: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """Per-position importance of ``tokens`` (n, L) -> (n, L) float32."""
    if isinstance(model, FittedModel):
        return np.asarray(model.importance(tokens), dtype=np.float32)
    model.eval()
    out = []
    for start in range(0, len(tokens), batch_size):
        batch = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long, device=device)
        out.append(model.importance(batch).detach().cpu().numpy().astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, tokens.shape[1]), dtype=np.float32)


def evaluate(
    model: Model,
    dataset: SequenceDataset,
    cfg: EvaluationConfig,
    seed: int,
    device: str = "cpu",
) -> dict:
    """Test metrics, the constant predictor's metrics, predictions, importance and ablation curves.

    Returns
    -------
    dict with keys ``metrics``, ``baseline_metrics``, ``y_true`` (n,), ``y_score`` (n,) or (n, C),
    ``ids`` (n,), ``importance`` (m, L) for the first m <= n test examples or None, ``ablation``
    (dict of curves), ``extra`` (model-specific test figures)
    """
    test: SplitView = dataset.view("test")
    train_labels = dataset.labels[dataset.split["train"]]
    task = dataset.task
    y_score = predict(model, test.tokens, device=device)
    baseline = constant_scores(task, train_labels, len(test), dataset.n_classes)
    importance = None
    if cfg.importance_max_examples:
        importance = compute_importance(
            model, test.tokens[: cfg.importance_max_examples], device=device
        )
    ablation: dict[str, np.ndarray] = {}
    if cfg.ablation_steps and task != "multiclass":
        m = min(cfg.ablation_max_examples, len(test))
        tokens = test.tokens[:m]
        imp = (
            importance[:m]
            if importance is not None and len(importance) >= m
            else (compute_importance(model, tokens, device=device))
        )
        ablation = ablation_curves(
            lambda t: predict(model, t, device=device),
            tokens,
            test.labels[:m],
            imp,
            task=task,
            steps=cfg.ablation_steps,
            seed=seed,
        )
    return {
        "metrics": compute_metrics(task, test.labels, y_score),
        "baseline_metrics": compute_metrics(task, test.labels, baseline),
        "y_true": test.labels,
        "y_score": y_score,
        "ids": test.ids,
        "importance": importance,
        "ablation": ablation,
        "extra": model.evaluation_metrics(test),
    }
