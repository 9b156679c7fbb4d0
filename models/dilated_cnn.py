"""A Basenji-style dilated residual CNN: a linear-time long-context baseline that is not attention.

Receptive field grows exponentially with depth (dilations 1, 2, 4, ...) at a cost linear in both
depth and sequence length, the classic way to read thousands of bases without attention
(Kelley et al. 2018, Basenji)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from harness.core.dataset import DatasetInfo
from harness.core.model import SequenceModel
from harness.core.registry import Params, register_model
from models.blocks import ConvStem, PoolingHead
from models.transformer import TRANSFORMER_TRAIN_DEFAULTS


class DilatedCNNParams(Params):
    channels: int = Field(64, ge=1, description="channels of the stem and every dilated block")
    kernel: int = Field(3, ge=1, description="dilated convolution width in tokens (odd)")
    n_layers: int = Field(8, ge=0, description="residual dilated blocks, dilation 2**i in block i")
    dropout: float = Field(0.1, ge=0, lt=1, description="residual and head dropout")
    pool: int = Field(4, ge=1, description="bases per token (stem max-pool width)")
    stem_kernel: int = Field(9, ge=1, description="stem convolution width in bases (odd)")

    @model_validator(mode="after")
    def _check(self) -> DilatedCNNParams:
        if self.kernel % 2 == 0 or self.stem_kernel % 2 == 0:
            raise ValueError("kernel and stem_kernel must be odd")
        return self


class DilatedBlock(nn.Module):
    """Pre-LN residual block ``x + drop(Conv1x1(GELU(DilatedConv(GELU(LN x)))))``.

    The dilated convolution is ``'same'``-padded, so token i reads tokens
    ``i - dilation * (kernel // 2) .. i + dilation * (kernel // 2)``. Padding tokens are zeroed on
    the convolution's input (what its zero padding feeds in beyond the ends), so a real token
    never reads padding content.
    """

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv1d(
            channels, channels, kernel, dilation=dilation, padding=dilation * (kernel // 2)
        )
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)
        self.channels, self.kernel, self.dilation = channels, kernel, dilation

    def forward(self, x: torch.Tensor, token_pad: torch.Tensor) -> torch.Tensor:
        """``(B, T, C) -> (B, T, C)``, zero at padding tokens."""
        h = F.gelu(self.norm(x)).masked_fill(token_pad.unsqueeze(-1), 0.0)
        h = self.mix(F.gelu(self.conv(h.transpose(1, 2)))).transpose(1, 2)
        return (x + self.drop(h)).masked_fill(token_pad.unsqueeze(-1), 0.0)

    def reach(self) -> int:
        """Tokens read on each side of a token."""
        return self.dilation * (self.kernel // 2)

    def macs(self, n_tokens: int) -> int:
        c = self.channels
        return n_tokens * (c + c * c * self.kernel + c * c)  # LayerNorm gain, dilated conv, 1x1


@register_model("dilated_cnn", DilatedCNNParams)
class DilatedCNNModel(SequenceModel):
    """Conv stem -> residual dilated convolutions (dilation doubling) -> attention pooling -> MLP.

    1. Stem: ``Embedding(6, C)`` (PAD = 0) -> ``Conv1d(C, C, 9, 'same')`` -> GELU -> max-pool 4,
       the ``transformer``'s :class:`~models.blocks.ConvStem` (PAD bases excluded from the max;
       tokens made only of PAD are padding).
    2. ``n_layers`` pre-LN residual blocks (:class:`DilatedBlock`): LayerNorm, GELU, a
       ``'same'`` Conv1d of width ``kernel`` with dilation ``2**i`` in block i, GELU, a 1x1
       Conv1d, dropout, residual add. LayerNorm rather than Basenji's BatchNorm: it is per
       token, so a padded row of a mixed batch is computed exactly as it would be alone, in
       training as in evaluation. Padding tokens are held at zero, so appending PAD changes
       nothing.
    3. Head: the ``transformer``'s :class:`~models.blocks.PoolingHead` (LayerNorm, attention
       pooling over non-padding tokens, ``C -> C -> GELU -> dropout -> outputs``).

    Receptive field (:meth:`receptive_field`): token i reads tokens ``i - h .. i + h`` with
    ``h = (kernel // 2) * (2**n_layers - 1)``, i.e. ``(2h + 1) * pool + 2 * (stem_kernel // 2)``
    bases; the defaults (kernel 3, 8 layers, pool 4, stem 9) give 511 tokens = 2,052 bases, and
    every further layer doubles it. Cost per token is constant, so the model is linear in L.

    Trained with the ``transformer``'s ``train_defaults`` (AdamW, warmup + cosine), so a
    comparison with the attention models is about the architecture. Importance: input x gradient
    on the embedding (zero at PAD), as ``transformer``.
    """

    role: ClassVar[str | None] = None
    train_defaults: ClassVar[dict[str, Any]] = TRANSFORMER_TRAIN_DEFAULTS

    def __init__(self, params: DilatedCNNParams, info: DatasetInfo) -> None:
        super().__init__(info)
        self.params = params
        c = params.channels
        self.stem = ConvStem(info.vocab_size, info.pad_token, c, params.stem_kernel, params.pool)
        self.blocks = nn.ModuleList(
            DilatedBlock(c, params.kernel, 2**i, params.dropout) for i in range(params.n_layers)
        )
        self.pool_head = PoolingHead(c, info.n_outputs, params.dropout)

    # --------------------------------------------------------------------------- computation
    def encode(self, features: torch.Tensor, token_pad: torch.Tensor) -> torch.Tensor:
        """Dilated blocks over stem tokens: ``(B, T, C) -> (B, T, C)`` (zero at padding)."""
        x = features
        for block in self.blocks:
            x = block(x, token_pad)
        return x

    def token_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token states after the dilated blocks, before pooling: ``(B, L) -> (B, T, C)``."""
        return self.encode(*self.stem(tokens))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Base embeddings ``(B, L, C)`` (PAD embeds to zero)."""
        return self.stem.embedding(tokens)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Everything after the embedding: ``(B, L, C) -> (B,)`` or ``(B, C_out)``."""
        features, token_pad = self.stem.from_embedded(embedded, tokens)
        return self.pool_head(self.encode(features, token_pad), token_pad)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        features, token_pad = self.stem(tokens)
        return self.pool_head(self.encode(features, token_pad), token_pad)

    def importance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Input x gradient per base ``(B, L)``: ``|e_i . d(sum of outputs)/d e_i|``."""
        embedded, grad = self.embedding_gradient(tokens)
        return (grad * embedded).sum(dim=-1).abs()

    # ------------------------------------------------------------------------ reach and cost
    def token_reach(self) -> int:
        """Tokens read on each side of a token by the dilated stack:
        ``(kernel // 2) * (2**n_layers - 1)``."""
        return sum(block.reach() for block in self.blocks)

    def receptive_field(self) -> int:
        """Bases a token's final state reads:
        ``(2 * token_reach + 1) * pool + 2 * (stem_kernel // 2)``."""
        return (2 * self.token_reach() + 1) * self.params.pool + 2 * (self.params.stem_kernel // 2)

    def macs_by_part(self, length: int) -> dict[str, int]:
        """Inference MACs for one sequence of ``length`` bases, by part, and their ``total``.

        Every dilated convolution is counted at all T tokens (taps landing on the zero padding
        are computed too); there is no attention sublayer.
        """
        n_tokens = self.stem.n_tokens(length)
        parts = {
            "stem": self.stem.macs(length),
            "dilated_convs": sum(block.macs(n_tokens) for block in self.blocks),
            "head": self.pool_head.macs(n_tokens),
        }
        return {"total": sum(parts.values()), **parts}

    def macs(self, length: int) -> int:
        return self.macs_by_part(length)["total"]
