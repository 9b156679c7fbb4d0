"""What every model variant offers the trainer, evaluation and reports.

Torch variants subclass :class:`SequenceModel`; estimators that are not trained by gradient descent
(k-mer regression, constant predictor) subclass :class:`FittedModel`. Both share the surface
``importance(tokens)``, ``macs(length)`` and ``n_params``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.dataset import DatasetInfo, SplitView


class SequenceModel(nn.Module):
    """A torch model over token batches.

    Subclasses implement ``forward(tokens) -> outputs`` where ``tokens`` is int64 ``(batch, L)`` and
    ``outputs`` is ``(batch,)`` for binary (a logit) and regression (a value), ``(batch, C)`` logits
    for multiclass. The hooks below have working defaults.
    """

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

    def prepare(self, train: SplitView, val: SplitView, context: Any) -> dict[str, float]:
        """Work before the main training loop (e.g. train a teacher); returns metrics to log.

        ``context`` is the :class:`harness.training.FitContext` with the train config, seed and
        the ``fit`` function, so that a teacher is trained by the same loop as everything else.
        """
        return {}

    def evaluation_metrics(self, view: SplitView) -> dict[str, float]:
        """Model-specific figures on a held-out split after training (fidelity to a teacher,
        overlap with teacher-important positions, ...); logged as ``test_<name>``."""
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
        was_training = self.training
        self.eval()
        with torch.enable_grad():
            embedded = self.embed(tokens).detach().requires_grad_(True)
            out = self.head(embedded, tokens)
            (grad,) = torch.autograd.grad(out.sum(), embedded)
        self.train(was_training)
        return grad.norm(dim=-1)

    def macs(self, length: int) -> int:
        """Analytic multiply-accumulates for one sequence of ``length`` positions (inference)."""
        raise TypeError(f"{type(self).__name__} does not count its MACs")

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class FittedModel(ABC):
    """A model fitted in closed form or by a library solver instead of the epoch loop."""

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

    def evaluation_metrics(self, view: SplitView) -> dict[str, float]:
        """See :meth:`SequenceModel.evaluation_metrics`."""
        return {}

    @property
    def n_params(self) -> int:
        return 0


def conv_out_length(length: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a 1-D convolution or pooling layer."""
    return (length + 2 * padding - kernel) // stride + 1
