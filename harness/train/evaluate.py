"""The only place the test split is used: after training and selection are finished."""

from __future__ import annotations

import numpy as np
import torch

from harness.config.study import EvaluationConfig
from harness.core.dataset import SequenceDataset, SplitView
from harness.core.metrics import at_threshold, compute_metrics, constant_scores
from harness.core.model import FittedModel, SequenceModel, predict
from harness.core.subsets import analysis_subset
from harness.train.ablation import ablation_curves, curve_metric_name

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
    threshold: float = 0.5,
) -> dict:
    """Test metrics, the constant predictor's metrics, predictions, importance and ablation curves.

    Importance is computed on a class-balanced subset of the test split drawn with
    ``cfg.subset_seed`` (the same rows for every training seed); the masking curves use a balanced
    share of those rows, with the constant predictor's curve metric on the same rows (``chance``).

    ``threshold`` is the binary decision threshold, chosen on validation by the caller (never
    here: test scores must not pick it); the constant predictor keeps 0.5, its majority rule.

    Returns
    -------
    dict with keys ``metrics``, ``baseline_metrics``, ``y_true`` (n,), ``y_score`` (n,) or (n, C),
    ``ids`` (n,), ``importance`` (m, L) for the test rows ``importance_index`` (m,) or None,
    ``ablation`` (dict of curves, plus ``chance`` (1,) and ``index`` (a,), the rows it used),
    ``extra`` (model-specific test figures)
    """
    test: SplitView = dataset.view("test")
    train_labels = dataset.labels[dataset.split["train"]]
    task = dataset.task
    y_score = predict(model, test.tokens, device=device)
    baseline = constant_scores(task, train_labels, len(test), dataset.n_classes)
    importance, rows = None, None
    if cfg.importance_max_examples:
        rows = analysis_subset(test.labels, task, cfg.importance_max_examples, cfg.subset_seed)
        importance = compute_importance(model, test.tokens[rows], device=device)
    ablation: dict[str, np.ndarray] = {}
    if cfg.ablation_steps and task != "multiclass":
        ablation = _ablation(
            model, test, task, baseline, cfg, seed, device, rows, importance, threshold
        )
    return {
        "metrics": compute_metrics(task, test.labels, y_score, threshold),
        "baseline_metrics": compute_metrics(task, test.labels, baseline),
        "y_true": test.labels,
        "y_score": y_score,
        "ids": test.ids,
        "importance": importance,
        "importance_index": rows,
        "ablation": ablation,
        "extra": model.evaluation_metrics(test),
    }


def _ablation(
    model: Model,
    test: SplitView,
    task: str,
    baseline: np.ndarray,
    cfg: EvaluationConfig,
    seed: int,
    device: str,
    rows: np.ndarray | None,
    importance: np.ndarray | None,
    threshold: float,
) -> dict[str, np.ndarray]:
    """Masking curves on a balanced share of the importance rows (or a balanced draw of their
    own), with the constant predictor's metric on the same rows as their chance level."""

    def decision(scores: np.ndarray) -> np.ndarray:
        return at_threshold(scores, threshold) if task == "binary" else scores

    if rows is None:
        picked = analysis_subset(test.labels, task, cfg.ablation_max_examples, cfg.subset_seed)
        imp = compute_importance(model, test.tokens[picked], device=device)
    else:
        within = analysis_subset(
            test.labels[rows], task, cfg.ablation_max_examples, cfg.subset_seed
        )
        picked, imp = rows[within], importance[within]
    curves = ablation_curves(
        # binary scores moved so the validation-chosen threshold lands on 0.5: the curves'
        # accuracy starts at the logged test accuracy, the same decision rule
        lambda t: decision(predict(model, t, device=device)),
        test.tokens[picked],
        test.labels[picked],
        imp,
        task=task,
        steps=cfg.ablation_steps,
        seed=seed,
    )
    name = curve_metric_name(task)
    chance = compute_metrics(task, test.labels[picked], baseline[picked])[name]
    return {**curves, "chance": np.array([chance]), "index": picked}
