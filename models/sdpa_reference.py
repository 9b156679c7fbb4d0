"""The bare full-attention floor: patch embedding, plain SDPA blocks, mean pooling, a linear map.

Whatever ``transformer`` costs above this model at the same width, depth and token count is the
overhead of its stem convolution, rotary positions and attention-pooling head, not of attention."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from harness.core.dataset import DatasetInfo
from harness.core.model import ATTENTION_PART, SequenceModel
from harness.core.registry import Params, register_model
from models.blocks import Block, key_mask_of
from models.layers import linear_macs, squeeze_outputs
from models.transformer import TRANSFORMER_TRAIN_DEFAULTS


class SDPAReferenceParams(Params):
    d_model: int = Field(64, ge=2, description="token width d (as transformer)")
    n_heads: int = Field(4, ge=1, description="attention heads; d_model / n_heads must be even")
    n_blocks: int = Field(2, ge=1, description="pre-LayerNorm attention + feed-forward blocks")
    ffn_mult: int = Field(4, ge=1, description="feed-forward hidden width = ffn_mult * d_model")
    dropout: float = Field(0.1, ge=0, lt=1, description="attention and residual dropout")
    pool: int = Field(4, ge=1, description="bases per token (patch width and stride)")

    @model_validator(mode="after")
    def _check(self) -> SDPAReferenceParams:
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model must split into n_heads heads of even width")
        return self


@register_model("sdpa_reference", SDPAReferenceParams)
class SDPAReferenceModel(SequenceModel):
    """Patch embedding -> N pre-LN blocks of plain SDPA attention -> mean over tokens -> linear.

    The fair, minimal full-attention reference for ``harness bench``: the same width, depth,
    heads, feed-forward and tokens per base as ``transformer`` (defaults d = 64, 2 blocks,
    4 heads, 4x FFN, 4 bases per token) with everything else taken away, so the cost of
    ``scaled_dot_product_attention`` over T = ceil(L / pool) tokens is all that grows with L
    faster than linearly.

    1. Tokens: ``Embedding(6, d)`` (PAD = 0), then a ``Conv1d(d, d, pool, stride=pool)`` over
       non-overlapping patches of ``pool`` bases (the last patch zero-filled, as PAD embeds to
       zero): one linear map per patch, so a token knows the order of its bases. A token made
       only of PAD is padding.
    2. Blocks: ``x + drop(MHA(LN x))``, ``x + drop(FFN(LN x))`` (:class:`~models.blocks.Block`
       with rotary positions off): no positional encoding of any kind, and SDPA gets no mask
       unless the batch holds padding tokens (then a key mask hiding them).
    3. Head: mean over non-padding tokens, LayerNorm, ``Linear(d, outputs)``.

    Without positions the blocks see a set of patches: order between tokens is invisible. That
    is the point of a floor, not a model to beat on accuracy. Importance: input x gradient on
    the base embedding (zero at PAD), as ``transformer``.
    """

    role: ClassVar[str | None] = None  # a cost reference for the bench, not a study's reference
    train_defaults: ClassVar[dict[str, Any]] = TRANSFORMER_TRAIN_DEFAULTS

    def __init__(self, params: SDPAReferenceParams, info: DatasetInfo) -> None:
        super().__init__(info)
        self.params = params
        d, self.pool = params.d_model, params.pool
        self.embedding = nn.Embedding(info.vocab_size, d, padding_idx=info.pad_token)
        self.patch = nn.Conv1d(d, d, params.pool, stride=params.pool)
        self.blocks = nn.ModuleList(
            Block(d, params.n_heads, params.ffn_mult, params.dropout, rotary=False)
            for _ in range(params.n_blocks)
        )
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, info.n_outputs)

    def n_tokens(self, length: int) -> int:
        return -(-length // self.pool)

    # --------------------------------------------------------------------------- computation
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Base embeddings ``(B, L, d)`` (PAD embeds to zero)."""
        return self.embedding(tokens)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Everything after the embedding: ``(B, L, d) -> (B,)`` or ``(B, C)``."""
        length = tokens.shape[1]
        extra = self.n_tokens(length) * self.pool - length
        x = self.patch(F.pad(embedded.transpose(1, 2), (0, extra))).transpose(1, 2)
        base_pad = F.pad(tokens == self.info.pad_token, (0, extra), value=True)
        token_pad = base_pad.unflatten(-1, (-1, self.pool)).all(-1)
        mask = key_mask_of(token_pad)
        # Block's signature takes positions; with rotary positions off they are never read
        positions = torch.arange(x.shape[1], device=tokens.device)
        for block in self.blocks:
            x = block(x, positions, mask)
        real = (~token_pad).unsqueeze(-1).to(x.dtype)
        pooled = (x * real).sum(dim=1) / real.sum(dim=1).clamp_min(1.0)
        return squeeze_outputs(self.out(self.norm(pooled)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens), tokens)

    def importance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Input x gradient per base ``(B, L)``: ``|e_i . d(sum of outputs)/d e_i|``."""
        embedded, grad = self.embedding_gradient(tokens)
        return (grad * embedded).sum(dim=-1).abs()

    # ------------------------------------------------------------------------------- cost
    def macs_by_part(self, length: int) -> dict[str, int]:
        """Inference MACs for one sequence of ``length`` bases, by part, and their ``total``.

        Patch embedding ``T * pool * d^2``; per block the attention sublayer ``4 T d^2 + 2 T^2 d
        + T d`` (projections, scores and weighted values, LayerNorm gain; no rotation) and the
        feed-forward; head: the mean (one scaling per token element), LayerNorm, the linear map.
        """
        n_tokens = self.n_tokens(length)
        d = self.params.d_model
        parts = {
            "patch": n_tokens * self.pool * d * d,
            ATTENTION_PART: sum(b.attention_macs(n_tokens) for b in self.blocks),
            "ffn": sum(b.ffn_macs(n_tokens) for b in self.blocks),
            "head": n_tokens * d + d + linear_macs(d, self.info.n_outputs),
        }
        return {"total": sum(parts.values()), **parts}

    def macs(self, length: int) -> int:
        return self.macs_by_part(length)["total"]
