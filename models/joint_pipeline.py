"""Phase 3 of the sparse-attention seed: task-specific embeddings with a higher learning rate, a
convolutional motif detector and a direct predictor, no attention."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from harness.core.dataset import DatasetInfo
from harness.core.model import SequenceModel
from harness.core.registry import Params, register_model
from models.layers import linear_macs, squeeze_outputs


class JointPipelineParams(Params):
    embed_dim: int = Field(32, ge=1, description="task-specific embedding width (seed: 32)")
    detector_channels: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (64, 32, 16), description="channels of the three motif-detector convolutions"
    )
    detector_kernels: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (7, 5, 3), description="odd kernel sizes of the three convolutions ('same' padding)"
    )
    readout: Literal["flatten", "pool"] = Field(
        "flatten",
        description="flatten: compressor + flattened classifier (project plan); "
        "pool: global average pool + MLP (the seed's 27,505-parameter script)",
    )
    compressed_dim: int = Field(8, ge=1, description="per-position compressor output (flatten)")
    hidden: int = Field(32, ge=1, description="hidden width of the classifier")
    dropout: float = Field(0.1, ge=0, lt=1, description="classifier dropout")
    embedding_lr_multiplier: float = Field(
        5.0, gt=0, description="embedding learning rate = multiplier x train lr"
    )


@register_model("joint_pipeline", JointPipelineParams)
class JointPipelineModel(SequenceModel):
    """Joint pipeline (seed Phase 3): embeddings at 5x lr, conv motif detector, direct predictor.

    ``Embedding(6, 32)`` (PAD fixed at zero, N(0, 0.01) init as in the seed) -> Conv1d 32->64
    (k7) -> ReLU -> 64->32 (k5) -> ReLU -> 32->16 (k3) -> ReLU, all 'same' padded. Then either
    ``readout="flatten"`` (project plan): per-position compressor ``Linear(16, 8)`` + ReLU,
    flatten ``8 L -> 32 -> ReLU -> dropout -> out``; or ``readout="pool"`` (the seed's script,
    27,505 parameters): global average pool, ``16 -> 32 -> 16 -> out`` with ReLU and dropout.
    ``param_groups`` gives the embedding ``embedding_lr_multiplier x lr`` (seed: 0.005 vs 0.001).

    Changes from the seed: one optimizer with two parameter groups instead of two separate Adam
    optimizers (same update); logits / raw values instead of a sigmoid output. The brief's
    27,505-parameter figure is the pooled variant; the plan's flattened classifier has more
    parameters (it grows with L).

    Importance: gradient saliency.
    """

    reproduces: ClassVar[str | None] = "sparse-attention-paper.md, joint pipeline"

    def __init__(self, params: JointPipelineParams, info: DatasetInfo) -> None:
        super().__init__(info)
        if any(k % 2 == 0 for k in params.detector_kernels):
            raise ValueError("joint_pipeline: detector_kernels must be odd for 'same' padding")
        self.params = params
        self.embedding = nn.Embedding(info.vocab_size, params.embed_dim, padding_idx=info.pad_token)
        with torch.no_grad():
            nn.init.normal_(self.embedding.weight, mean=0.0, std=0.01)
            self.embedding.weight[info.pad_token].zero_()
        layers: list[nn.Module] = []
        n_in = params.embed_dim
        for n_out, k in zip(params.detector_channels, params.detector_kernels, strict=True):
            layers += [nn.Conv1d(n_in, n_out, k, padding=k // 2), nn.ReLU()]
            n_in = n_out
        self.detector = nn.Sequential(*layers)
        # the plan's per-position compressor exists only for the flattened readout
        self.compressor = (
            nn.Linear(n_in, params.compressed_dim) if params.readout == "flatten" else None
        )
        self.readout = self._build_readout(params, info, n_in)

    @staticmethod
    def _build_readout(params: JointPipelineParams, info: DatasetInfo, n_in: int) -> nn.Module:
        if params.readout == "pool":
            return nn.Sequential(
                nn.Linear(n_in, params.hidden),
                nn.ReLU(),
                nn.Dropout(params.dropout),
                nn.Linear(params.hidden, n_in),
                nn.ReLU(),
                nn.Dropout(params.dropout),
                nn.Linear(n_in, info.n_outputs),
            )
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(params.compressed_dim * info.length, params.hidden),
            nn.ReLU(),
            nn.Dropout(params.dropout),
            nn.Linear(params.hidden, info.n_outputs),
        )

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Task-specific embeddings ``(B, L, d)``."""
        return self.embedding(tokens)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Detector and readout: ``(B, L, d) -> (B,)`` or ``(B, C)``."""
        motifs = self.detector(embedded.transpose(1, 2))  # (B, 16, L)
        if self.compressor is None:
            return squeeze_outputs(self.readout(motifs.mean(dim=2)))
        compressed = torch.relu(self.compressor(motifs.transpose(1, 2)))  # (B, L, 8)
        return squeeze_outputs(self.readout(compressed))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens), tokens)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Embeddings at ``embedding_lr_multiplier * lr``, everything else at ``lr``."""
        embedding = [p for p in self.embedding.parameters() if p.requires_grad]
        ids = {id(p) for p in embedding}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        return [
            {"params": embedding, "lr": lr * self.params.embedding_lr_multiplier},
            {"params": rest, "lr": lr},
        ]

    def macs(self, length: int) -> int:
        """Convolutions over L positions, then the compressor and flattened classifier (flatten)
        or the pooled MLP (pool)."""
        p = self.params
        total, n_in = 0, p.embed_dim
        for n_out, k in zip(p.detector_channels, p.detector_kernels, strict=True):
            total += length * n_out * n_in * k
            n_in = n_out
        if p.readout == "pool":
            total += linear_macs(n_in, p.hidden) + linear_macs(p.hidden, n_in)
            return total + linear_macs(n_in, self.info.n_outputs)
        total += length * linear_macs(n_in, p.compressed_dim)
        total += linear_macs(p.compressed_dim * length, p.hidden)
        return total + linear_macs(p.hidden, self.info.n_outputs)
