"""Sequential (teacher-student) training: a frozen attention teacher's per-example importance
guides a sparse student's token selector, with a decaying guidance weight."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from harness.core.dataset import DatasetInfo, SplitView
from harness.core.metrics import compute_metrics
from harness.core.model import FitContext, predict
from harness.core.registry import register_model
from models.layers import top_k_positions
from models.sparse_distilled import TeacherGuidedParams, TeacherGuidedSparse


class TeacherStudentParams(TeacherGuidedParams):
    quality_threshold: float = Field(
        0.8,
        ge=0,
        le=1,
        description="guide only on examples whose teacher quality exp(-loss) is at least this",
    )
    guidance_start: float = Field(0.77, ge=0, description="guidance weight at the first epoch")
    guidance_end: float = Field(0.01, ge=0, description="guidance weight at the last epoch")
    schedule: Literal["linear", "cosine"] = Field(
        "linear", description="shape of the decay from guidance_start to guidance_end"
    )

    @model_validator(mode="after")
    def _decays(self) -> TeacherStudentParams:
        if self.guidance_end > self.guidance_start:
            raise ValueError("guidance_end must not exceed guidance_start (the weight decays)")
        return self


def guidance_weight(
    epoch: int, n_epochs: int, start: float, end: float, schedule: str = "linear"
) -> float:
    """Guidance weight of 1-based ``epoch``: ``start`` at epoch 1, ``end`` at ``n_epochs``.

    Monotone between the two and clamped at zero (the seed's weight was a trainable parameter
    that could and did go negative).
    """
    progress = (epoch - 1) / max(n_epochs - 1, 1)
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "cosine":
        progress = 0.5 * (1.0 - math.cos(math.pi * progress))
    return max(0.0, start + (end - start) * progress)


def teacher_quality(
    task: str, outputs: torch.Tensor, targets: torch.Tensor, label_var: float
) -> torch.Tensor:
    """Per-example quality ``exp(-loss)`` of teacher outputs, in (0, 1]: ``(B,)``.

    Binary and multiclass: the probability the teacher gives the true class. Regression:
    ``exp(-(prediction - target)^2 / var(train labels))``, so 0.8 keeps errors below about half a
    label standard deviation.
    """
    if task == "binary":
        p = torch.sigmoid(outputs)
        return torch.where(targets.bool(), p, 1 - p)
    if task == "multiclass":
        return torch.softmax(outputs, dim=-1).gather(1, targets.long().unsqueeze(1)).squeeze(1)
    return torch.exp(-((outputs - targets.float()) ** 2) / max(label_var, 1e-12))


@register_model("teacher_student", TeacherStudentParams)
class TeacherStudentModel(TeacherGuidedSparse):
    """Sparse student whose selector is guided toward a frozen attention teacher's importance.

    Sequence: (1) ``prepare`` trains (or loads) an ``attention`` teacher and freezes it; (2) the
    student (``sparse_attention``) trains on ``task + w(epoch) * guidance``. Guidance, per batch:
    the teacher's importance of the *same* examples (attention received, mean over heads and
    queries; a distribution over positions) is the target of the student's selector
    distribution ``softmax(selector logits)``; the term is ``KL(teacher || student)`` averaged
    over the examples the teacher gets right with quality ``exp(-loss) >= quality_threshold``
    (see :func:`teacher_quality`; the mask uses the batch labels, training split only).
    ``w`` decays from ``guidance_start`` to ``guidance_end`` (linear or cosine over epochs) and
    is never negative.

    Changes from the seed: the seed reduced the teacher to one dataset-wide position profile and
    mixed it into the student's scores (so it also shaped inference), with a learnable guidance
    weight that went negative; here guidance is a per-example training loss only, the weight is
    a fixed schedule clamped at zero, and the student at inference sees tokens alone.

    Evaluation on a split: overlap between the student's k selected positions and the teacher's k
    most important positions per example: ``selection_precision_at_k`` (= recall, both sets have
    k elements), ``selection_jaccard``, and ``selection_chance`` = k / L, the expected precision
    of a random selection.
    """

    reproduces: ClassVar[str | None] = "sequential-training-paper.md"

    params: TeacherStudentParams

    def __init__(self, params: TeacherStudentParams, info: DatasetInfo) -> None:
        super().__init__(params, info)
        self.current_weight = params.guidance_start
        self.label_var = 1.0

    def prepare(self, train: SplitView, val: SplitView, context: FitContext) -> dict[str, float]:
        metrics = super().prepare(train, val, context)
        self.label_var = float(np.var(train.labels)) if len(train) else 1.0
        metrics["teacher_confident_fraction"] = self._confident_fraction(train)
        return metrics

    def _confident_fraction(self, view: SplitView, batch_size: int = 256) -> float:
        """Share of ``view`` on which guidance will apply."""
        device = next(self.parameters()).device
        kept = 0.0
        with torch.no_grad():
            for start in range(0, len(view), batch_size):
                x = torch.as_tensor(view.tokens[start : start + batch_size], dtype=torch.long)
                y = torch.as_tensor(view.labels[start : start + batch_size])
                kept += float(self._confident(x.to(device), y.to(device)).sum())
        return kept / max(len(view), 1)

    def _confident(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        quality = teacher_quality(self.info.task, self.teacher(tokens), targets, self.label_var)
        return quality >= self.params.quality_threshold

    def on_epoch_start(self, epoch: int, n_epochs: int) -> dict[str, float]:
        p = self.params
        self.current_weight = guidance_weight(
            epoch, n_epochs, p.guidance_start, p.guidance_end, p.schedule
        )
        return {"guidance_weight": self.current_weight}

    def extra_loss(
        self, tokens: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        parts = self._parts_for(tokens)
        with torch.no_grad():
            target = self.teacher.importance(tokens)
            mask = self._confident(tokens, targets).to(target.dtype)
        log_student = torch.log_softmax(parts.logits, dim=-1)
        kl = nn.functional.kl_div(log_student, target, reduction="none").sum(dim=-1)
        guidance = (kl * mask).sum() / mask.sum().clamp_min(1.0)
        return {"guidance": self.current_weight * guidance}

    def evaluation_metrics(self, view: SplitView) -> dict[str, float]:
        return {**selection_overlap(self, view.tokens), **teacher_metrics(self.teacher, view)}


def teacher_metrics(teacher: nn.Module, view: SplitView) -> dict[str, float]:
    """The frozen teacher's own test metrics, prefixed ``teacher_`` (the seed's 0.445 claim)."""
    scores = predict(teacher, view.tokens)
    return {
        f"teacher_{k}": v
        for k, v in compute_metrics(teacher.info.task, view.labels, scores).items()
    }


def selection_overlap(
    model: TeacherStudentModel, tokens: np.ndarray, batch_size: int = 256
) -> dict[str, float]:
    """Overlap of student-selected and teacher top-k positions, averaged over examples.

    Parameters
    ----------
    tokens : uint8 (n, L)
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    precision, jaccard, n = 0.0, 0.0, 0
    length = tokens.shape[1] if tokens.ndim == 2 else 0
    k = model.n_kept(length) if length else 0
    with torch.no_grad():
        for start in range(0, len(tokens), batch_size):
            x = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long, device=device)
            pad = x == model.info.pad_token
            student = torch.zeros_like(x, dtype=torch.bool).scatter(1, model.select(x), True)
            teacher_top = top_k_positions(model.teacher.importance(x), k, pad)
            teacher = torch.zeros_like(student).scatter(1, teacher_top, True)
            both = (student & teacher).sum(dim=1).double()
            either = (student | teacher).sum(dim=1).double()
            precision += float((both / k).sum())
            jaccard += float((both / either).sum())
            n += len(x)
    model.train(was_training)
    if n == 0:
        return {}
    return {
        "selection_precision_at_k": precision / n,
        "selection_jaccard": jaccard / n,
        "selection_chance": k / length,
    }
