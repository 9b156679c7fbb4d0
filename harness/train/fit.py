"""One training loop for every torch model; closed-form baselines go through ``fit`` too.

Early stopping and checkpoint selection look at the validation split only; the test split never
reaches this module. A run whose outputs, loss, gradient norm or weights go non-finite stops with
:class:`~harness.core.errors.Diverged` at the step where it happened, rather than failing later
inside torch with an unrelated message.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from harness.config.study import TrainConfig
from harness.core.dataset import PAD_TOKEN, SplitView
from harness.core.errors import Diverged, UserError
from harness.core.metrics import (
    LOWER_IS_BETTER,
    choose_threshold,
    compute_metrics,
    is_better,
    metric_names,
)
from harness.core.model import (
    FitContext,
    FittedModel,
    SequenceModel,
    predict,
    task_loss,
)
from harness.train.device import autocast, resolve_device

EpochCallback = Callable[[int, dict[str, float]], None]
# token -> its complement: A<->T, C<->G; N and PAD map to themselves
COMPLEMENT = torch.tensor([3, 2, 1, 0, 4, PAD_TOKEN])


@dataclass
class FitResult:
    """What training produced; the model itself holds the restored best weights.

    ``decision_threshold`` is the binary threshold chosen on the kept epoch's validation scores
    (:func:`harness.core.metrics.choose_threshold`); NaN for other tasks.
    """

    curves: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    best_value: float = float("nan")
    epochs_run: int = 0
    train_seconds: float = 0.0
    prepare_metrics: dict[str, float] = field(default_factory=dict)
    decision_threshold: float = float("nan")

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(self.epochs_run, 1)

    @property
    def best_val(self) -> dict[str, float]:
        """Every validation curve at the kept epoch, as ``best_val_<m>`` (empty before one)."""
        if self.best_epoch < 1:
            return {}
        return {
            f"best_{name}": values[self.best_epoch - 1]
            for name, values in self.curves.items()
            if name.startswith("val_") and len(values) >= self.best_epoch
        }


def validation_threshold(task: str, labels: np.ndarray, scores: np.ndarray | None) -> float:
    """The decision threshold of a binary task, chosen on validation scores; NaN otherwise."""
    if task != "binary" or scores is None:
        return float("nan")
    return choose_threshold(labels, scores)


@dataclass
class Trained:
    """A trained model's kept weights and what its training produced."""

    state: dict[str, torch.Tensor]
    result: FitResult


@dataclass
class TrainedMemo:
    """Models already trained in one unit (dataset x seed), by everything that fixes the outcome:
    class, params, initial weights, train settings, seed and data (params too: settings without
    weights of their own, such as ``positional`` or ``dropout``, leave the initial weights equal).

    Training is deterministic given those, so a sub-model a ``prepare`` hook asks to train (a
    teacher) that equals a model already trained in the unit -- e.g. the ``transformer`` run a
    sparse student's teacher duplicates -- gets that model's weights instead of a second training.
    Only ``FitContext.fit`` reads the memo; every top-level run trains (and logs) in full.
    ``pending`` holds models trained by an earlier process (a resumed study's kept runs) as
    ``(key function, fetch)``: keys are computed only when a sub-model first asks (:meth:`get`),
    weights fetched only for the key asked for.
    """

    entries: dict[str, Trained] = field(default_factory=dict)
    pending: list[tuple[Callable[[], str], Callable[[], Trained | None]]] = field(
        default_factory=list
    )
    _deferred: dict[str, Callable[[], Trained | None]] = field(default_factory=dict)

    def get(self, key: str) -> Trained | None:
        """The model trained under ``key``, fetching a deferred one once; None if unknown or
        the fetch found nothing (then the caller trains)."""
        while self.pending:
            key_of, fetch = self.pending.pop()
            if known := key_of():
                self._deferred[known] = fetch
        if key not in self.entries and key in self._deferred:
            found = self._deferred.pop(key)()
            if found is not None:
                self.entries[key] = found
        return self.entries.get(key)

    @staticmethod
    def key(
        model: SequenceModel, train: SplitView, val: SplitView, cfg: TrainConfig, seed: int
    ) -> str:
        digest = hashlib.sha256()
        digest.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
        params = getattr(model, "params", None)
        if isinstance(params, BaseModel):
            digest.update(params.model_dump_json().encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        digest.update(cfg.model_dump_json().encode())
        digest.update(str(seed).encode())
        for view in (train, val):
            digest.update(np.ascontiguousarray(view.tokens).tobytes())
            digest.update(np.ascontiguousarray(view.labels).tobytes())
        return digest.hexdigest()


def set_seed(seed: int, threads: int) -> torch.Generator:
    """Seed torch for a deterministic CPU run; returns the generator that shuffles batches."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def _evaluate(
    model: SequenceModel, view: SplitView, cfg: TrainConfig, loop: _Loop | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Loss and task metrics on ``view``, and the scores behind them ((n,) or (n, C)).

    With ``loop`` (during training), non-finite scores raise :class:`Diverged` (``val_output``)
    before the loss and metrics would fail on them.
    """
    scores = predict(model, view.tokens, max(cfg.batch_size, 256), resolve_device(cfg.device))
    if loop is not None and not np.isfinite(scores).all():
        raise loop.diverged("val_output", float(scores[~np.isfinite(scores)].flat[0]))
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
    return {"loss": loss, **compute_metrics(task, view.labels, scores)}, scores


def _fit_closed_form(
    model: FittedModel,
    train: SplitView,
    val: SplitView,
    cfg: TrainConfig,
    start: float,
    on_epoch: EpochCallback | None,
) -> FitResult:
    """A ``fit``-once baseline, reported as a single epoch so its curves look like the others."""
    metrics = {f"val_{k}": v for k, v in model.fit(train, val).items()}
    result = FitResult(curves={k: [v] for k, v in metrics.items()}, best_epoch=1, epochs_run=1)
    result.best_value = metrics.get(f"val_{cfg.monitor}", float("nan"))
    result.train_seconds = time.perf_counter() - start
    if model.info.task == "binary":  # one more pass over validation, for the threshold only
        result.decision_threshold = choose_threshold(val.labels, predict(model, val.tokens))
    if on_epoch:
        on_epoch(1, metrics)
    return result


def _make_optimizer(model: SequenceModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return opt_cls(model.param_groups(cfg.lr), lr=cfg.lr, weight_decay=cfg.weight_decay)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor at optimizer ``step`` (0-based): linear warmup over ``warmup`` steps
    to 1, then cosine decay to 0 at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, n_train: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-batch schedule over ``cfg.epochs`` epochs, or None for a constant rate.

    The schedule spans the maximum number of epochs; early stopping may end training before the
    decay does, as with any fixed-horizon schedule.
    """
    if cfg.schedule == "none":
        return None
    total = cfg.epochs * math.ceil(n_train / cfg.batch_size)
    warmup = max(1, round(cfg.warmup_fraction * total))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total, warmup)
    )


def reverse_complement_batch(tokens: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Reverse-complement the rows of ``tokens`` where ``flip`` is true.

    Parameters
    ----------
    tokens : int64 (batch, L) over A=0 C=1 G=2 T=3 N=4 PAD=5, right-padded
    flip : bool (batch,)

    Returns
    -------
    int64 (batch, L): a flipped row is its valid prefix reversed and complemented (A<->T, C<->G,
    N stays N), PAD kept on the right, so padding never moves to the front.
    """
    length = tokens.shape[1]
    valid = (tokens != PAD_TOKEN).sum(dim=1, keepdim=True)  # (batch, 1)
    pos = torch.arange(length, device=tokens.device).expand_as(tokens)
    source = torch.where(pos < valid, valid - 1 - pos, pos)  # mirror the valid prefix only
    rc = COMPLEMENT.to(tokens.device)[tokens.gather(1, source)]
    return torch.where(flip.unsqueeze(1), rc, tokens)


@dataclass
class _Loop:
    """What one training run keeps across epochs besides the model."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    gen: torch.Generator  # batch order
    aug_gen: torch.Generator  # augmentation draws: separate, so turning it on leaves order alone
    device: str
    trainable: list[nn.Parameter]
    lr: float  # the configured rate, named when training diverges
    epoch: int = 0  # 1-based epoch being trained
    step: int = 0  # 1-based optimizer step within it; after the epoch, its last step

    def diverged(self, what: str, value: float, term: str | None = None) -> Diverged:
        """The :class:`Diverged` of ``what`` (output, loss, ...) at the current epoch and step."""
        detail = f"train.lr={self.lr}" + (f", term: {term}" if term else "")
        return Diverged(
            f"diverged: {what} {value} at epoch {self.epoch} step {self.step} ({detail})"
        )


def _first_non_finite(tensor: torch.Tensor) -> float:
    """A non-finite element of ``tensor`` (call only when there is one): nan, inf or -inf."""
    values = tensor.detach()
    return values[~torch.isfinite(values)].flatten()[0].item()


def _loss_values(losses: dict[str, torch.Tensor], loop: _Loop) -> dict[str, float]:
    """Each loss term as a float; a non-finite one raises :class:`Diverged` naming it."""
    values = {name: value.item() for name, value in losses.items()}
    for name, value in values.items():
        if not math.isfinite(value):
            raise loop.diverged("loss", value, None if name == "loss" else name)
    return values


def _train_step(
    model: SequenceModel, loop: _Loop, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig
) -> dict[str, float]:
    """One optimizer step on the batch ``(x, y)``; returns the value of each loss term.

    Raises
    ------
    Diverged
        The outputs, a loss term or (with ``grad_clip``) the gradient norm is non-finite. Without
        clipping the gradient norm is not computed; non-finite weights it leaves behind are caught
        by the next step's outputs or at the epoch's end.
    """
    with autocast(loop.device):
        outputs = model(x)
        # before the loss: a loss may reject non-finite input with an unrelated torch error
        if not torch.isfinite(outputs).all():
            raise loop.diverged("output", _first_non_finite(outputs))
        losses = {"loss": task_loss(model.info.task, outputs.float(), y)}
        extras = model.extra_loss(x, outputs, y)
    total = losses["loss"] + sum(extras.values(), torch.zeros((), device=loop.device))
    losses.update(extras)
    values = _loss_values(losses, loop)
    loop.optimizer.zero_grad(set_to_none=True)
    total.backward()
    if cfg.grad_clip:
        # trainable parameters only: a frozen teacher's parameters are not being optimised
        norm = nn.utils.clip_grad_norm_(loop.trainable, cfg.grad_clip)
        if not torch.isfinite(norm):
            raise loop.diverged("grad_norm", norm.item())
    loop.optimizer.step()
    if loop.scheduler is not None:
        loop.scheduler.step()
    return values


def _check_weights(loop: _Loop) -> None:
    """Raise :class:`Diverged` if a trainable weight is non-finite (once per epoch: the last
    step's update is otherwise only seen by the next epoch, after validation ran on it)."""
    if not loop.trainable:
        return
    if torch.stack([torch.isfinite(p).all() for p in loop.trainable]).all():
        return
    bad = next(p for p in loop.trainable if not torch.isfinite(p).all())
    raise loop.diverged("weights", _first_non_finite(bad))


def _train_epoch(
    model: SequenceModel,
    loop: _Loop,
    tokens: torch.Tensor,
    targets: torch.Tensor,
    cfg: TrainConfig,
) -> dict[str, float]:
    """One pass over the shuffled training set; returns ``train_<loss>`` averaged per example.

    ``loop.gen`` draws exactly one permutation per call, so seeded runs see the same batches.
    ``loop.step`` counts the steps of ``loop.epoch``, for :class:`Diverged` messages.
    """
    model.train()
    sums: dict[str, float] = {}
    n_seen = 0
    loop.step = 0
    for idx in torch.randperm(len(tokens), generator=loop.gen).split(cfg.batch_size):
        loop.step += 1
        x, y = tokens[idx], targets[idx]
        if cfg.reverse_complement:
            x = reverse_complement_batch(x, torch.rand(len(x), generator=loop.aug_gen) < 0.5)
        values = _train_step(model, loop, x.to(loop.device), y.to(loop.device), cfg)
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + value * len(idx)
        n_seen += len(idx)
    _check_weights(loop)
    return {f"train_{k}": v / n_seen for k, v in sums.items()}


def _epoch_extras(model: SequenceModel, val: SplitView, loop: _Loop) -> dict[str, float]:
    """The learning rate at the epoch's end and the model's own per-epoch validation figures
    (e.g. a selector's recall of planted motifs), logged as ``val_<name>``."""
    extras = {f"val_{k}": v for k, v in model.epoch_metrics(val).items()}
    if loop.scheduler is not None:
        extras["lr"] = loop.optimizer.param_groups[0]["lr"]
    return extras


def check_monitor(cfg: TrainConfig, task: str, model_class: type) -> None:
    """Refuse a ``train.monitor`` the task's validation metrics lack, before training. A model
    with its own ``epoch_metrics`` may monitor one of those: that is checked after epoch 1."""
    if getattr(model_class, "epoch_metrics", None) not in (None, SequenceModel.epoch_metrics):
        return
    valid = sorted({"loss", *metric_names(task)})
    if cfg.monitor not in valid:
        raise UserError(
            f"train.monitor: {cfg.monitor!r} is not a {task} validation metric "
            f"(valid: {', '.join(valid)})"
        )


def _monitored(metrics: dict[str, float], cfg: TrainConfig, task: str) -> float:
    """The validation value that selects the epoch; a monitor the task lacks is a user error."""
    key = f"val_{cfg.monitor}"
    if key not in metrics:
        valid = sorted(k[4:] for k in metrics if k.startswith("val_"))
        raise UserError(
            f"train.monitor: {cfg.monitor!r} is not a {task} validation metric "
            f"(valid: {', '.join(valid)})"
        )
    return metrics[key]


def fit(
    model: SequenceModel | FittedModel,
    train: SplitView,
    val: SplitView,
    cfg: TrainConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
    progress: Any | None = None,
    memo: TrainedMemo | None = None,
) -> FitResult:
    """Train ``model`` on ``train``, select the epoch by ``val``, restore the best weights.

    Parameters
    ----------
    on_epoch : called as ``on_epoch(epoch, metrics)`` after every epoch with ``train_*`` and
        ``val_*`` metrics; it may raise (e.g. ``optuna.TrialPruned``) to stop training.
    progress : a ``rich.progress.Progress`` to advance, or None.
    memo : models trained earlier in the same unit; this model is added to it, and a sub-model
        that ``prepare`` trains is taken from it when identical (see :class:`TrainedMemo`).

    Raises
    ------
    Diverged
        A training output, loss term, clipped gradient norm, weight or validation score went
        non-finite; the message names it, the 1-based epoch and step, and ``train.lr``.
    UserError
        ``cfg.monitor`` is not a validation metric of the task.
    """
    start = time.perf_counter()
    if isinstance(model, FittedModel):
        return _fit_closed_form(model, train, val, cfg, start, on_epoch)

    result = FitResult()
    gen = set_seed(seed, cfg.threads)
    device = resolve_device(cfg.device)
    model.to(device)
    key = TrainedMemo.key(model, train, val, cfg, seed) if memo is not None else ""
    result.prepare_metrics = model.prepare(
        train, val, FitContext(lambda m, tr, va: _fit_sub_model(m, tr, va, cfg, seed, memo))
    )
    optimizer = _make_optimizer(model, cfg)
    aug_gen = torch.Generator().manual_seed(seed + 1)
    scheduler = _make_scheduler(optimizer, cfg, len(train))
    trainable = [p for p in model.parameters() if p.requires_grad]
    loop = _Loop(optimizer, scheduler, gen, aug_gen, device, trainable, cfg.lr)
    tokens = torch.as_tensor(train.tokens, dtype=torch.long)
    targets = torch.as_tensor(train.labels)
    best_state = copy.deepcopy(model.state_dict())
    result.best_value = float("inf") if cfg.monitor in LOWER_IS_BETTER else float("-inf")
    stale = 0
    best_scores: np.ndarray | None = None
    task_id = progress.add_task("epochs", total=cfg.epochs) if progress else None
    for epoch in range(1, cfg.epochs + 1):
        schedule = model.on_epoch_start(epoch, cfg.epochs)
        loop.epoch = epoch
        metrics = _train_epoch(model, loop, tokens, targets, cfg)
        metrics.update(_epoch_extras(model, val, loop))
        metrics.update(schedule)
        val_metrics, scores = _evaluate(model, val, cfg, loop)
        metrics.update({f"val_{k}": v for k, v in val_metrics.items()})
        for name, value in metrics.items():
            result.curves.setdefault(name, []).append(value)
        result.epochs_run = epoch
        current = _monitored(metrics, cfg, model.info.task)
        if is_better(cfg.monitor, current, result.best_value):
            result.best_value, result.best_epoch, stale = current, epoch, 0
            best_state, best_scores = copy.deepcopy(model.state_dict()), scores
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
    model.zero_grad(set_to_none=True)  # a trained model carries no gradients into later use
    result.decision_threshold = validation_threshold(model.info.task, val.labels, best_scores)
    result.train_seconds = time.perf_counter() - start
    if memo is not None:
        memo.entries[key] = Trained(best_state, result)
    return result


def _fit_sub_model(
    model: SequenceModel,
    train: SplitView,
    val: SplitView,
    cfg: TrainConfig,
    seed: int,
    memo: TrainedMemo | None,
) -> FitResult:
    """``fit`` for a model's ``prepare`` (a teacher), reusing an identical model trained earlier
    in the unit when there is one.

    The global random state is put back afterwards, so the outer model trains the same whether
    its teacher was trained here, reused, or loaded from a checkpoint.
    """
    with torch.random.fork_rng():  # CPU and CUDA generators restored on exit
        found = memo.get(TrainedMemo.key(model, train, val, cfg, seed)) if memo else None
        if found is not None:
            model.load_state_dict(found.state)
            return found.result
        return fit(model, train, val, cfg, seed, memo=memo)
