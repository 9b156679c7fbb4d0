"""One training loop for every torch model; closed-form baselines go through ``fit`` too.

Early stopping and checkpoint selection look at the validation split only; the test split never
reaches this module.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.config.study import TrainConfig
from harness.core.dataset import SplitView
from harness.core.errors import UserError
from harness.core.metrics import LOWER_IS_BETTER, compute_metrics, is_better
from harness.core.model import (
    FitContext,
    FittedModel,
    SequenceModel,
    predict,
    task_loss,
)

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """What training produced; the model itself holds the restored best weights."""

    curves: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    best_value: float = float("nan")
    epochs_run: int = 0
    train_seconds: float = 0.0
    prepare_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(self.epochs_run, 1)


def set_seed(seed: int, threads: int) -> torch.Generator:
    """Seed torch for a deterministic CPU run; returns the generator that shuffles batches."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def _evaluate(model: SequenceModel, view: SplitView, cfg: TrainConfig) -> dict[str, float]:
    scores = predict(model, view.tokens, max(cfg.batch_size, 256), cfg.device)
    task = model.info.task
    targets = torch.as_tensor(view.labels)
    if task == "binary":
        p = torch.as_tensor(scores, dtype=torch.float64).clamp(1e-7, 1 - 1e-7)
        loss = nn.functional.binary_cross_entropy(p, targets.double()).item()
    elif task == "multiclass":
        p = torch.as_tensor(scores, dtype=torch.float64).clamp_min(1e-12)
        loss = nn.functional.nll_loss(p.log(), targets.long()).item()
    else:
        loss = float(np.mean((scores - view.labels) ** 2))
    return {"loss": loss, **compute_metrics(task, view.labels, scores)}


def fit(
    model: SequenceModel | FittedModel,
    train: SplitView,
    val: SplitView,
    cfg: TrainConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
    progress: Any | None = None,
) -> FitResult:
    """Train ``model`` on ``train``, select the epoch by ``val``, restore the best weights.

    Parameters
    ----------
    on_epoch : called as ``on_epoch(epoch, metrics)`` after every epoch with ``train_*`` and
        ``val_*`` metrics; it may raise (e.g. ``optuna.TrialPruned``) to stop training.
    progress : a ``rich.progress.Progress`` to advance, or None.
    """
    result = FitResult()
    start = time.perf_counter()
    if isinstance(model, FittedModel):
        metrics = {f"val_{k}": v for k, v in model.fit(train, val).items()}
        result.curves = {k: [v] for k, v in metrics.items()}
        result.epochs_run, result.best_epoch = 1, 1
        result.best_value = metrics.get(f"val_{cfg.monitor}", float("nan"))
        result.train_seconds = time.perf_counter() - start
        if on_epoch:
            on_epoch(1, metrics)
        return result

    gen = set_seed(seed, cfg.threads)
    model.to(cfg.device)
    result.prepare_metrics = model.prepare(
        train, val, FitContext(lambda m, tr, va: fit(m, tr, va, cfg, seed))
    )
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(model.param_groups(cfg.lr), lr=cfg.lr, weight_decay=cfg.weight_decay)
    tokens = torch.as_tensor(train.tokens, dtype=torch.long)
    targets = torch.as_tensor(train.labels)
    task = model.info.task
    best_state = copy.deepcopy(model.state_dict())
    result.best_value = float("inf") if cfg.monitor in LOWER_IS_BETTER else float("-inf")
    stale = 0
    task_id = progress.add_task("epochs", total=cfg.epochs) if progress else None
    for epoch in range(1, cfg.epochs + 1):
        schedule = model.on_epoch_start(epoch, cfg.epochs)
        model.train()
        sums: dict[str, float] = {}
        n_seen = 0
        for idx in torch.randperm(len(tokens), generator=gen).split(cfg.batch_size):
            x, y = tokens[idx].to(cfg.device), targets[idx].to(cfg.device)
            outputs = model(x)
            losses = {"loss": task_loss(task, outputs, y)}
            extras = model.extra_loss(x, outputs, y)
            total = losses["loss"] + sum(extras.values(), torch.zeros((), device=cfg.device))
            losses.update(extras)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value.item() * len(idx)
            n_seen += len(idx)
        metrics = {f"train_{k}": v / n_seen for k, v in sums.items()}
        metrics.update(schedule)
        metrics.update({f"val_{k}": v for k, v in _evaluate(model, val, cfg).items()})
        for name, value in metrics.items():
            result.curves.setdefault(name, []).append(value)
        result.epochs_run = epoch
        if f"val_{cfg.monitor}" not in metrics:
            valid = sorted(k[4:] for k in metrics if k.startswith("val_"))
            raise UserError(
                f"train.monitor: {cfg.monitor!r} is not a {task} validation metric "
                f"(valid: {', '.join(valid)})"
            )
        current = metrics[f"val_{cfg.monitor}"]
        if is_better(cfg.monitor, current, result.best_value):
            result.best_value, result.best_epoch, stale = current, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        if progress is not None:
            progress.update(
                task_id, advance=1, description=f"epoch {epoch} val_{cfg.monitor}={current:.4f}"
            )
        if on_epoch:
            on_epoch(epoch, metrics)
        if cfg.patience and stale >= cfg.patience:
            break
    if progress is not None:
        progress.remove_task(task_id)
    model.load_state_dict(best_state)
    result.train_seconds = time.perf_counter() - start
    return result
