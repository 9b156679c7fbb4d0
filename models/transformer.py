"""A competent transformer for DNA: convolutional stem, rotary positions, pre-LN SDPA blocks,
attention pooling. The full-attention reference that ``sparse_transformer`` is compared to."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from harness.core.dataset import DatasetInfo
from harness.core.model import ATTENTION_PART, SequenceModel
from harness.core.registry import Params, register_model
from models.blocks import Block, ConvStem, PoolingHead, key_mask_of

TRANSFORMER_TRAIN_DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw",
    "weight_decay": 0.01,
    "batch_size": 64,
    "schedule": "warmup_cosine",
}


class TransformerParams(Params):
    d_model: int = Field(64, ge=4, description="token width d")
    n_heads: int = Field(4, ge=1, description="attention heads; d_model / n_heads must be even")
    n_blocks: int = Field(2, ge=1, description="pre-LayerNorm attention + feed-forward blocks")
    ffn_mult: int = Field(4, ge=1, description="feed-forward hidden width = ffn_mult * d_model")
    dropout: float = Field(0.1, ge=0, lt=1, description="attention, residual and head dropout")
    stem_kernel: int = Field(9, ge=1, description="stem convolution width in bases (odd)")
    pool: int = Field(4, ge=1, description="bases per token (stem max-pool width)")
    positional: Literal["rope", "none"] = Field(
        "rope", description="rotary position embedding in attention, or none (stem order only)"
    )
    absolute_positions: bool = Field(
        False,
        description="also add a learned embedding per token index (aligned sequences, e.g. "
        "TSS-centred promoters; covers the trained length, longer inputs refused)",
    )

    @model_validator(mode="after")
    def _check(self) -> TransformerParams:
        if self.stem_kernel % 2 == 0:
            raise ValueError("stem_kernel must be odd")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model must split into n_heads heads of even width")
        return self


@register_model("transformer", TransformerParams)
class TransformerModel(SequenceModel):
    """Conv stem -> N pre-LN transformer blocks with rotary positions -> attention pooling -> MLP.

    1. Stem: ``Embedding(6, d)`` (PAD = 0) -> ``Conv1d(d, d, 9, 'same')`` -> GELU -> max-pool 4,
       so 200 bp become 50 tokens, each a learned detector of 12-bp patterns. PAD bases are
       excluded from the max; tokens made only of PAD are padding.
    2. Blocks: ``x + drop(MHA(LN x))``, ``x + drop(FFN(LN x))`` with a 4x GELU feed-forward;
       attention by ``scaled_dot_product_attention``, given a key mask only when the batch holds
       padding tokens (so unpadded batches take SDPA's fast unmasked kernels).
    3. Head: LayerNorm, attention pooling (softmax of a learned score over non-padding tokens),
       ``d -> d -> GELU -> dropout -> outputs``. Outputs are a logit (binary), logits
       (multiclass) or a value (regression).

    Positions: rotary embeddings (RoPE) on queries and keys. They are parameter-free and defined at
    every position, so the model runs at any length (a later study goes to 100 kb) without a
    table to outgrow; they encode *relative* offsets inside attention, which is what motif grammar
    (spacing, order) needs; they apply per token from its index, so the sparse model rotates its
    kept tokens by their original positions and attention among them sees true distances; and they
    leave SDPA's fused kernels usable (ALiBi needs a dense L x L bias, O(L^2) memory at 100 kb;
    learned absolute positions have a maximum length and do not extrapolate). Absolute position is
    not encoded beyond the stem's zero padding at the ends; ``positional: none`` drops RoPE.
    ``absolute_positions: true`` adds a learned embedding per token index to the stem tokens before
    the blocks (at the kept tokens' own indices in the sparse model), beside RoPE: for aligned
    sequences, where a site's distance to a fixed anchor (the TSS) is itself the signal; it covers
    the trained length's tokens and refuses longer inputs.

    Importance: input x gradient on the embedding, ``|sum_d e_id * d out / d e_id|`` summed over
    outputs (zero at PAD). ``macs_by_part`` splits the inference cost into stem, attention
    sublayer (QKV/out projections, RoPE, scores and weighted values, LayerNorm), feed-forward,
    selector (none here) and head.
    """

    # the full-attention model the sparse variants are measured against
    role: ClassVar[str | None] = "reference"
    # what a practitioner trains a transformer with (below the study's own train keys)
    train_defaults: ClassVar[dict[str, Any]] = TRANSFORMER_TRAIN_DEFAULTS

    def __init__(self, params: TransformerParams, info: DatasetInfo) -> None:
        super().__init__(info)
        self.params = params
        d = params.d_model
        self.stem = ConvStem(info.vocab_size, info.pad_token, d, params.stem_kernel, params.pool)
        rotary = params.positional == "rope"
        self.blocks = nn.ModuleList(
            Block(d, params.n_heads, params.ffn_mult, params.dropout, rotary)
            for _ in range(params.n_blocks)
        )
        self.pool_head = PoolingHead(d, info.n_outputs, params.dropout)
        self.position: nn.Embedding | None = None
        if params.absolute_positions:
            self.position = nn.Embedding(self.stem.n_tokens(info.length), d)
            nn.init.normal_(self.position.weight, std=0.02)

    # --------------------------------------------------------------------------- computation
    def encode(
        self,
        features: torch.Tensor,
        token_pad: torch.Tensor,
        positions: torch.Tensor,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Blocks over tokens: ``(B, T, d) -> (B, T, d)``.

        Parameters
        ----------
        features : (B, T, d) stem tokens
        token_pad : BoolTensor (B, T), tokens to hide from attention (padding, or not kept)
        positions : (T,) or (B, T) token indices for the rotary embedding
        keep : optional (B, T) soft keep decisions (DynamicViT training of the sparse model)
        """
        mask = self.attention_mask(token_pad)
        x = features if self.position is None else features + self._absolute(positions)
        for block in self.blocks:
            x = block(x, positions, mask, keep)
        return x

    def _absolute(self, positions: torch.Tensor) -> torch.Tensor:
        """Learned embeddings ``(T, d)`` or ``(B, T, d)`` of token indices ``positions``."""
        assert self.position is not None
        covered = self.position.num_embeddings
        # checked on the CPU only (a GPU check would sync every step; there the lookup's own
        # bounds check stops it)
        on_cpu = positions.device.type == "cpu"
        if on_cpu and positions.numel() and int(positions.max()) >= covered:
            raise ValueError(
                f"absolute_positions covers {covered} tokens ({covered * self.stem.pool} bases, "
                f"the trained length); got token index {int(positions.max())}"
            )
        return self.position(positions)

    def attention_mask(self, token_pad: torch.Tensor) -> torch.Tensor | None:
        """What the blocks' attention is given for the padding ``(B, T)``: SDPA's key mask."""
        return key_mask_of(token_pad)

    def tokens_out(
        self, features: torch.Tensor, token_pad: torch.Tensor, positions: torch.Tensor
    ) -> torch.Tensor:
        """Outputs from stem tokens (blocks, pooling, head): ``(B, T, d) -> (B,)|(B, C)``."""
        return self.pool_head(self.encode(features, token_pad, positions), token_pad)

    def pooling_weights(self, tokens: torch.Tensor) -> torch.Tensor:
        """The head's attention-pooling weights over tokens ``(B, T)`` (zero at padding)."""
        features, token_pad = self.stem(tokens)
        positions = torch.arange(features.shape[1], device=tokens.device)
        encoded = self.encode(features, token_pad, positions)
        return self.pool_head.weights(encoded, token_pad)[1]

    def single_token_outputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """Outputs from each stem token alone ``(B, T, n_outputs)``, NaN at padding tokens.

        With one token, attention is the identity on its value (and RoPE cancels), so this is a
        function of that token's stem features (and, with learned positions, its index) only:
        what the model concludes from it by itself.
        """
        features, token_pad = self.stem(tokens)
        batch, n_tokens, dim = features.shape
        index = torch.arange(n_tokens, device=tokens.device).repeat(batch).unsqueeze(1)
        alone = self.tokens_out(features.reshape(-1, 1, dim), token_pad.reshape(-1, 1), index)
        alone = alone.reshape(batch, n_tokens, -1)
        return alone.masked_fill(token_pad.unsqueeze(-1), float("nan"))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Base embeddings ``(B, L, d)`` (PAD embeds to zero)."""
        return self.stem.embedding(tokens)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Everything after the embedding: ``(B, L, d) -> (B,)`` or ``(B, C)``."""
        features, token_pad = self.stem.from_embedded(embedded, tokens)
        positions = torch.arange(features.shape[1], device=tokens.device)
        return self.tokens_out(features, token_pad, positions)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        features, token_pad = self.stem(tokens)
        positions = torch.arange(features.shape[1], device=tokens.device)
        return self.tokens_out(features, token_pad, positions)

    def importance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Input x gradient per base ``(B, L)``: ``|e_i . d(sum of outputs)/d e_i|``."""
        embedded, grad = self.embedding_gradient(tokens)
        return (grad * embedded).sum(dim=-1).abs()

    # ------------------------------------------------------------------------------- cost
    def _block_macs(self, n_tokens: int) -> tuple[int, int]:
        attention = sum(b.attention_macs(n_tokens) for b in self.blocks)
        return attention, sum(b.ffn_macs(n_tokens) for b in self.blocks)

    def macs_by_part(self, length: int) -> dict[str, int]:
        """Inference MACs for one sequence of ``length`` bases, by part, and their ``total``."""
        n_tokens = self.stem.n_tokens(length)
        attention, ffn = self._block_macs(n_tokens)
        parts = {
            "stem": self.stem.macs(length),
            ATTENTION_PART: attention,
            "ffn": ffn,
            "selector": 0,
            "head": self.pool_head.macs(n_tokens),
        }
        return {"total": sum(parts.values()), **parts}

    def macs(self, length: int) -> int:
        return self.macs_by_part(length)["total"]
