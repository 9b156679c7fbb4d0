"""Phase 2 as the project plan describes it: the sparse approximator learns to reproduce a frozen
full-attention teacher's per-position outputs on the positions it selects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from harness.core.dataset import DatasetInfo, SplitView
from harness.core.model import FitContext, task_loss
from harness.core.registry import register_model
from models.attention import AttentionModel, AttentionParams, freeze, load_or_fit_teacher
from models.sparse_attention import SparseAttentionModel, SparseAttentionParams


class TeacherGuidedParams(SparseAttentionParams):
    teacher_heads: int = Field(4, ge=1, description="attention heads of the teacher")
    teacher_checkpoint: str | None = Field(
        None,
        description="path of a saved attention state_dict to use as teacher; null = train one",
    )


@dataclass
class _ForwardCache:
    """What the last training forward computed, reused by ``extra_loss`` for the same batch."""

    tokens: torch.Tensor
    approximated: torch.Tensor
    indices: torch.Tensor
    logits: torch.Tensor


class TeacherGuidedSparse(SparseAttentionModel):
    """A sparse-attention student with a frozen ``attention`` teacher (not registered itself).

    The teacher is an :class:`AttentionModel` with the student's width, positional setting and
    head; it is trained in :meth:`prepare` by the harness loop (or loaded from
    ``teacher_checkpoint``), then frozen: its weights are excluded from ``n_params``, from the
    optimizer and from gradient flow, and it stays in eval mode. It is not used at inference, so
    ``macs`` are the student's.
    """

    def __init__(self, params: TeacherGuidedParams, info: DatasetInfo) -> None:
        super().__init__(params, info)
        teacher_params = AttentionParams(
            embed_dim=params.embed_dim,
            n_heads=params.teacher_heads,
            positional=params.positional,
            head_hidden=params.head_hidden,
            dropout=params.dropout,
        )
        self.teacher = AttentionModel(teacher_params, info)
        freeze(self.teacher)
        self._cache: _ForwardCache | None = None

    def train(self, mode: bool = True) -> TeacherGuidedSparse:
        super().train(mode)
        self.teacher.eval()  # a frozen teacher never runs dropout
        return self

    def prepare(self, train: SplitView, val: SplitView, context: FitContext) -> dict[str, float]:
        """Load or train the teacher with the harness loop, then freeze it."""
        checkpoint = self.params.teacher_checkpoint
        return load_or_fit_teacher(self.teacher, checkpoint, train, val, context)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        outputs, approximated, indices, logits = self._head_parts(self.embed(tokens), tokens)
        if self.training:
            self._cache = _ForwardCache(tokens, approximated, indices, logits)
        return outputs

    def _parts_for(self, tokens: torch.Tensor) -> _ForwardCache:
        """The training forward's intermediates for ``tokens`` (recomputed if not cached)."""
        cache, self._cache = self._cache, None
        if cache is not None and cache.tokens is tokens:
            return cache
        _, approximated, indices, logits = self._head_parts(self.embed(tokens), tokens)
        return _ForwardCache(tokens, approximated, indices, logits)


class SparseDistilledParams(TeacherGuidedParams):
    task_weight: float = Field(1.0, gt=0, description="weight of the task loss")
    distill_weight: float = Field(
        1.0, ge=0, description="weight of the MSE to the teacher's attention outputs"
    )


def gather_positions(values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``values (B, L, d)`` at ``indices (B, k)`` -> ``(B, k, d)``."""
    return values.gather(1, indices.unsqueeze(-1).expand(-1, -1, values.shape[-1]))


@register_model("sparse_distilled", SparseDistilledParams)
class SparseDistilledModel(TeacherGuidedSparse):
    """Sparse attention distilled from a frozen attention teacher's per-position outputs.

    The student is ``sparse_attention`` (see there). The teacher's attention outputs ``(B, L, d)``
    at the student's selected positions are the targets of the student's approximator outputs
    ``(B, k, d)`` (MSE). Loss = ``task_weight * task + distill_weight * distill``; the trainer adds
    the task loss with weight one, so a ``task_weight`` other than one is applied through an extra
    ``task_scale = (task_weight - 1) * task`` term. The selector is trained by the task loss
    through score scaling (distillation compares unscaled approximator outputs).

    Changes from the plan's sketch: the plan fed the teacher's outputs into the forward pass and
    compared nothing; here the teacher is only a training target, the student sees tokens alone.

    Evaluation: ``fidelity_r2`` (1 - SSE / SST of student vs teacher outputs over every selected
    position and feature; SST around the teacher's per-feature mean) and ``fidelity_cosine``
    (mean cosine similarity per selected position).
    """

    reproduces: ClassVar[str | None] = "sparse-attention-paper.md, Phase 3 (distilled)"

    params: SparseDistilledParams

    def extra_loss(
        self, tokens: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        parts = self._parts_for(tokens)
        with torch.no_grad():
            target = gather_positions(self.teacher.attention_outputs(tokens), parts.indices)
        losses = {
            "distill": self.params.distill_weight
            * nn.functional.mse_loss(parts.approximated, target)
        }
        if self.params.task_weight != 1.0:
            scale = self.params.task_weight - 1.0
            losses["task_scale"] = scale * task_loss(self.info.task, outputs, targets)
        return losses

    def evaluation_metrics(self, view: SplitView) -> dict[str, float]:
        return fidelity(self, view.tokens)


def fidelity(
    model: SparseDistilledModel, tokens: np.ndarray, batch_size: int = 256
) -> dict[str, float]:
    """Student-vs-teacher agreement on the student's selected positions.

    Parameters
    ----------
    tokens : uint8 (n, L)

    Returns
    -------
    dict with ``fidelity_r2``, ``fidelity_cosine`` (floats)
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sse, sum_t, sum_t2, cos_sum, n = 0.0, 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for start in range(0, len(tokens), batch_size):
            x = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long, device=device)
            _, student, indices, _ = model._head_parts(model.embed(x), x)
            teacher = gather_positions(model.teacher.attention_outputs(x), indices)
            s = student.reshape(-1, student.shape[-1]).double()
            t = teacher.reshape(-1, teacher.shape[-1]).double()
            sse += float(((s - t) ** 2).sum())
            sum_t = sum_t + t.sum(dim=0)
            sum_t2 = sum_t2 + (t**2).sum(dim=0)
            cos_sum += float(nn.functional.cosine_similarity(s, t, dim=-1).sum())
            n += len(t)
    model.train(was_training)
    if n == 0:
        return {"fidelity_r2": float("nan"), "fidelity_cosine": float("nan")}
    sst = float((sum_t2 - sum_t**2 / n).sum())
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    return {"fidelity_r2": r2, "fidelity_cosine": cos_sum / n}
