"""What every model variant offers the trainer, evaluation and reports.

Torch variants subclass :class:`SequenceModel`; estimators that are not trained by gradient descent
(k-mer regression, constant predictor) subclass :class:`FittedModel`. Both share the surface
``importance(tokens)``, ``macs(length)`` and ``n_params``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from harness.core.dataset import DatasetInfo, SplitView


class FitSummary(Protocol):
    """What a model's ``prepare`` may read back from training a sub-model."""

    best_value: float
    best_epoch: int


@dataclass(frozen=True)
class FitContext:
    """Handed to ``SequenceModel.prepare`` so a teacher is trained by the harness's own loop.

    ``fit(model, train, val)`` trains with the same train config and seed as the model being
    prepared and returns a :class:`FitSummary`.
    """

    fit: Callable[[SequenceModel, SplitView, SplitView], FitSummary]


# The part of ``macs_by_part`` that is the attention sublayer (or its stand-in over the kept
# positions): compute claims judge selection on it, apart from the rest of the architecture.
ATTENTION_PART = "attention_sublayer"


class SequenceModel(nn.Module):
    """A torch model over token batches.

    Subclasses implement ``forward(tokens) -> outputs`` where ``tokens`` is int64 ``(batch, L)`` and
    ``outputs`` is ``(batch,)`` for binary (a logit) and regression (a value), ``(batch, C)`` logits
    for multiclass. The hooks below have working defaults.
    """

    # What the model is to a study, read through the registry (never by name): "baseline", a
    # bar every model should clear (constant, k-mer, the published CNN); "reference", what the
    # others are compared against by default; None, a model under test.
    role: ClassVar[str | None] = None
    # Train settings this model defaults to (``TrainConfig`` field -> value), below what a study
    # writes; the seed reproductions keep the harness defaults so earlier results stay comparable.
    train_defaults: ClassVar[dict[str, Any]] = {}
    # The seed text this model reproduces faithfully (file and section), or None. Shown by
    # `harness list`; such models keep the seed's own defaults so earlier results stay comparable.
    reproduces: ClassVar[str | None] = None

    def __init__(self, info: DatasetInfo) -> None:
        super().__init__()
        self.info = info

    def extra_loss(
        self, tokens: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Additional training losses by name (KL consistency, distillation, guidance).

        The trainer adds them to the task loss and logs each per epoch as ``train_<name>``.
        """
        return {}

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups; override for differential learning rates."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]

    def on_epoch_start(self, epoch: int, n_epochs: int) -> dict[str, float]:
        """Called before each training epoch; returns schedule values to log for that epoch."""
        return {}

    def prepare(self, train: SplitView, val: SplitView, context: FitContext) -> dict[str, float]:
        """Work before the main training loop (e.g. train a teacher); returns metrics to log.

        ``context.fit`` is the harness's training loop, so a teacher is trained like everything
        else.
        """
        return {}

    def evaluation_metrics(self, view: SplitView) -> dict[str, float]:
        """Model-specific figures on a held-out split after training (fidelity to a teacher,
        overlap with teacher-important positions, ...); logged as ``test_<name>``."""
        return {}

    def epoch_metrics(self, view: SplitView) -> dict[str, float]:
        """Model-specific figures on the validation split after every epoch (e.g. a selector's
        recall of planted motifs); logged per epoch as ``val_<name>``, never used for selection
        unless named as ``train.monitor``."""
        return {}

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-position embeddings ``(batch, L, d)``; used by the default saliency."""
        raise TypeError(f"{type(self).__name__} has no embedding to take gradients at")

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Outputs from embeddings; ``forward(t) == head(embed(t), t)`` for saliency models."""
        raise TypeError(f"{type(self).__name__} cannot run from embeddings")

    def importance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-position importance ``(batch, L)``, non-negative; default: input-gradient saliency.

        Saliency is the L2 norm over the embedding axis of d(output)/d(embedding), summed over
        output units (the AttnGen paper's §IV-F definition).
        """
        _, grad = self.embedding_gradient(tokens)
        return grad.norm(dim=-1)

    def embedding_gradient(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embedded, d(sum of outputs)/d(embedded))``, both ``(batch, L, d)``, in eval mode.

        The shared first step of gradient saliencies (the default norm, input x gradient).
        """
        was_training = self.training
        self.eval()
        with torch.enable_grad():
            embedded = self.embed(tokens).detach().requires_grad_(True)
            out = self.head(embedded, tokens)
            (grad,) = torch.autograd.grad(out.sum(), embedded)
        self.train(was_training)
        return embedded.detach(), grad

    def macs(self, length: int) -> int:
        """Analytic multiply-accumulates for one sequence of ``length`` positions (inference)."""
        raise TypeError(f"{type(self).__name__} does not count its MACs")

    def macs_by_part(self, length: int) -> dict[str, int]:
        """Inference MACs by part, with their ``total``; {} when the model does not break them
        down. The part named :data:`ATTENTION_PART` is the attention sublayer (or what stands in
        for it over the kept positions), so compute claims can judge selection apart from the
        rest of the architecture."""
        return {}

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class FittedModel(ABC):
    """A model fitted in closed form or by a library solver instead of the epoch loop."""

    role: ClassVar[str | None] = None  # see SequenceModel.role

    def __init__(self, info: DatasetInfo) -> None:
        self.info = info

    @abstractmethod
    def fit(self, train: SplitView, val: SplitView) -> dict[str, float]:
        """Fit on ``train`` (``val`` only for selection); returns validation metrics to log."""

    @abstractmethod
    def predict(self, tokens: np.ndarray) -> np.ndarray:
        """Scores for ``(n, L)`` tokens: ``(n,)`` probability of class 1 (binary) or value
        (regression), ``(n, C)`` probabilities (multiclass)."""

    @abstractmethod
    def importance(self, tokens: np.ndarray) -> np.ndarray:
        """Per-position importance ``(n, L)``."""

    @abstractmethod
    def macs(self, length: int) -> int:
        """Analytic multiply-accumulates for one sequence of ``length`` positions."""

    def macs_by_part(self, length: int) -> dict[str, int]:
        """See :meth:`SequenceModel.macs_by_part`; estimators have no attention sublayer."""
        return {}

    def evaluation_metrics(self, view: SplitView) -> dict[str, float]:
        """See :meth:`SequenceModel.evaluation_metrics`."""
        return {}

    @property
    def n_params(self) -> int:
        return 0


def task_loss(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits (binary), cross-entropy (multiclass) or MSE (regression)."""
    if task == "binary":
        return nn.functional.binary_cross_entropy_with_logits(outputs, targets.float())
    if task == "multiclass":
        return nn.functional.cross_entropy(outputs, targets.long())
    return nn.functional.mse_loss(outputs, targets.float())


def to_scores(task: str, outputs: torch.Tensor) -> torch.Tensor:
    """Outputs -> P(class 1) (binary), class probabilities (multiclass), values (regression)."""
    if task == "binary":
        return torch.sigmoid(outputs)
    if task == "multiclass":
        return torch.softmax(outputs, dim=-1)
    return outputs


def predict(
    model: SequenceModel | FittedModel,
    tokens: np.ndarray,
    batch_size: int = 256,
    device: str = "cpu",
) -> np.ndarray:
    """Scores for ``(n, L)`` tokens: ``(n,)`` or ``(n, C)``, see :func:`to_scores`."""
    if isinstance(model, FittedModel):
        return model.predict(tokens)
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(tokens), batch_size):
            batch = torch.as_tensor(
                tokens[start : start + batch_size], dtype=torch.long, device=device
            )
            out.append(to_scores(model.info.task, model(batch)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
