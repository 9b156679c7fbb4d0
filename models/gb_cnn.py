"""The Genomic Benchmarks reference CNN (``genomic_benchmarks.models.torch.CNN``)."""

from __future__ import annotations

import torch
from pydantic import Field, PositiveInt
from torch import nn

from harness.core.dataset import DatasetInfo
from harness.core.model import SequenceModel
from harness.core.registry import Params, register_model
from models.layers import ConvBlockSpec, ConvBlockStack, linear_macs, pad_right, squeeze_outputs


class GBCNNParams(Params):
    embed_dim: int = Field(100, ge=1, description="token embedding width (package example: 100)")
    channels: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (16, 8, 4), description="output channels of the three convolution blocks"
    )
    kernel: int = Field(8, ge=1, description="convolution kernel size")
    dense_dim: int = Field(512, ge=1, description="width of the hidden dense layer")


@register_model("gb_cnn", GBCNNParams)
class GBCNN(SequenceModel):
    """Genomic Benchmarks reference CNN: embedding, 3 x (conv8, batch-norm, max-pool), dense 512.

    Follows the package's model layer for layer: ``Embedding(6, 100)``; ``Conv1d(100, 16, 8)``,
    BatchNorm, ReLU, MaxPool(2); ``Conv1d(16, 8, 8)``, BatchNorm, MaxPool(2);
    ``Conv1d(8, 4, 8)``, BatchNorm, MaxPool(2); flatten; ``Linear(flat, 512)``;
    ``Linear(512, out)``. As in the package, only the first block has a ReLU and there is no
    nonlinearity between the two dense layers (so they compose to one linear map; kept for
    fidelity to the published baseline).

    Changes from the package: it applies a sigmoid and then ``binary_cross_entropy_with_logits``
    (a double sigmoid); we return the logit. Regression gets one unconstrained output. Sequences
    shorter than the stack needs (57 for the defaults) are right-padded with PAD embeddings so the
    model is defined for any length; at or above that length nothing changes.

    Importance: gradient saliency (norm of d output / d embedding per position).
    """

    # A baseline, not the study's reference: a fixed published architecture every new model is
    # expected to beat; the reference others are compared against (retention) is the model a
    # paper's variants derive from, e.g. full attention for the sparse variants.
    role = "baseline"

    def __init__(self, params: GBCNNParams, info: DatasetInfo) -> None:
        super().__init__(info)
        self.params = params
        c1, c2, c3 = params.channels
        k = params.kernel
        self.embedding = nn.Embedding(info.vocab_size, params.embed_dim)
        self.convs = ConvBlockStack(
            [
                ConvBlockSpec(params.embed_dim, c1, k, relu=True),
                ConvBlockSpec(c1, c2, k, relu=False),
                ConvBlockSpec(c2, c3, k, relu=False),
            ]
        )
        self.input_length = max(info.length, self.convs.min_length())
        self.flat_dim = c3 * self.convs.output_length(self.input_length)
        self.dense = nn.Sequential(
            nn.Linear(self.flat_dim, params.dense_dim), nn.Linear(params.dense_dim, info.n_outputs)
        )

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``(B, L, embed_dim)``."""
        return self.embedding(tokens)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Convolutions and dense layers: ``(B, L, d) -> (B,)`` or ``(B, C)``."""
        pad_vector = self.embedding.weight[self.info.pad_token]
        x = pad_right(embedded, self.input_length, pad_vector).transpose(1, 2)
        return squeeze_outputs(self.dense(self.convs(x).flatten(1)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens), tokens)

    def macs(self, length: int) -> int:
        """Convolutions (+ batch-norm scale) over the padded length, then the two dense layers."""
        padded = max(length, self.convs.min_length())
        flat = self.params.channels[-1] * self.convs.output_length(padded)
        dense = linear_macs(flat, self.params.dense_dim)
        dense += linear_macs(self.params.dense_dim, self.info.n_outputs)
        return self.convs.macs(padded) + dense
