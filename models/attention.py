"""Phase 1 of the sparse-attention seed (a seed reproduction): one multi-head self-attention layer
over the sequence, computed with ``scaled_dot_product_attention``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from harness.core.dataset import DatasetInfo, SplitView
from harness.core.model import ATTENTION_PART, FitContext, SequenceModel
from harness.core.registry import Params, register_model
from models.layers import ClassifierHead, PositionalEncoding, attention_macs


class AttentionParams(Params):
    embed_dim: int = Field(32, ge=2, description="token embedding width d (seed: 32)")
    n_heads: int = Field(4, ge=1, description="attention heads; must divide embed_dim")
    positional: bool = Field(
        True, description="add a sinusoidal positional encoding (false = the seed, which has none)"
    )
    head_hidden: int = Field(16, ge=1, description="hidden width of the classification head")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout in the classification head")


@register_model("attention", AttentionParams)
class AttentionModel(SequenceModel):
    """Full self-attention baseline (seed Phase 1): embedding, 4-head attention, mean pool, MLP.

    A seed reproduction, kept for the seed's claims: one attention layer with no feed-forward,
    no residual and mean pooling composes base counts rather than reading motifs (the
    ``transformer`` model is the competent full-attention reference).

    Architecture: ``Embedding(6, d)`` (PAD embedding fixed at zero) [+ sinusoidal positions] ->
    4-head self-attention (the parameters of ``nn.MultiheadAttention(d, heads)``, computed by
    ``scaled_dot_product_attention``; equal to the module's own forward to float rounding) ->
    mean over non-PAD positions -> ``d -> 16 -> out``. With ``positional=False`` and defaults
    this is the seed's 4,961-parameter model.

    Changes from the seed: the output is a logit (binary) or an unconstrained value (regression)
    instead of a sigmoid, so the trainer's BCE-with-logits / MSE apply; PAD keys are masked out of
    attention and of the pooling (the seed attended to padding); an optional positional encoding
    (the seed's model was permutation invariant, so it could not tell where a motif is).

    Importance: attention received by each position, averaged over heads and queries (rows of the
    attention matrix sum to one, so each sequence's importance sums to one).
    """

    reproduces: ClassVar[str | None] = "sparse-attention-paper.md, Phase 1"

    def __init__(self, params: AttentionParams, info: DatasetInfo) -> None:
        super().__init__(info)
        if params.embed_dim % params.n_heads:
            raise ValueError("attention: embed_dim must be divisible by n_heads")
        self.params = params
        d = params.embed_dim
        self.embedding = nn.Embedding(info.vocab_size, d, padding_idx=info.pad_token)
        self.positional = PositionalEncoding(d, params.positional)
        self.attention = nn.MultiheadAttention(d, params.n_heads, batch_first=True)
        self.classifier = ClassifierHead(d, params.head_hidden, info.n_outputs, params.dropout)

    def _pad_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """PAD positions ``(B, L)``; an all-PAD row stays unmasked so its softmax is defined."""
        pad = tokens == self.info.pad_token
        return pad & ~pad.all(dim=1, keepdim=True)

    def _attend(
        self, embedded: torch.Tensor, tokens: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Self-attention over ``(B, L, d)`` embeddings -> outputs ``(B, L, d)`` and weights
        ``(B, heads, L_query, L_key)`` (``None`` unless ``need_weights``).

        Computed by ``scaled_dot_product_attention`` with the parameters of ``self.attention`` (an
        ``nn.MultiheadAttention``, kept so state dicts stay loadable); a key mask is passed only
        when the batch holds padding, so unpadded batches take SDPA's unmasked fast path.
        """
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        h = embedded + self.positional(positions)
        mha = self.attention
        qkv = F.linear(h, mha.in_proj_weight, mha.in_proj_bias)
        # (B, L, 3d) -> three (B, heads, L, d / heads)
        q, k, v = qkv.unflatten(-1, (3, mha.num_heads, -1)).permute(2, 0, 3, 1, 4)
        pad = self._pad_mask(tokens)
        mask = ~pad[:, None, None, :] if bool(pad.any()) else None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = mha.out_proj(out.transpose(1, 2).flatten(2))
        weights = None
        if need_weights:
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
        return out, weights

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``(B, L, d)`` (positions are added inside :meth:`head`)."""
        return self.embedding(tokens)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Attention, masked mean pool and classifier: ``(B, L, d) -> (B,)`` or ``(B, C)``."""
        attended, _ = self._attend(embedded, tokens)
        keep = (~self._pad_mask(tokens)).unsqueeze(-1).to(attended.dtype)
        pooled = (attended * keep).sum(dim=1) / keep.sum(dim=1)
        return self.classifier(pooled)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens), tokens)

    def attention_outputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-position attention outputs ``(B, L, d)`` (the distillation target of Phase 2)."""
        return self._attend(self.embed(tokens), tokens)[0]

    def attention_weights(self, tokens: torch.Tensor) -> torch.Tensor:
        """Attention matrices ``(B, heads, L_query, L_key)``; each row sums to one."""
        _, weights = self._attend(self.embed(tokens), tokens, need_weights=True)
        return weights

    def importance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Attention received per key position, mean over heads and queries: ``(B, L)``."""
        was_training = self.training
        self.eval()
        with torch.no_grad():
            weights = self.attention_weights(tokens)
        self.train(was_training)
        return weights.mean(dim=(1, 2))

    def macs_by_part(self, length: int) -> dict[str, int]:
        """``attention_sublayer``: Q/K/V/output projections ``4 L d^2`` and scores and weighted
        values ``2 L^2 d``; ``head``: the classifier."""
        parts = {
            ATTENTION_PART: attention_macs(length, length, self.params.embed_dim),
            "head": self.classifier.macs(),
        }
        return {"total": sum(parts.values()), **parts}

    def macs(self, length: int) -> int:
        return self.macs_by_part(length)["total"]


def load_or_fit_teacher(
    teacher: SequenceModel,
    checkpoint: str | None,
    train: SplitView,
    val: SplitView,
    context: FitContext,
) -> dict[str, float]:
    """Give ``teacher`` its weights, then freeze it.

    Loads a state dict from ``checkpoint`` when given (a plain ``AttentionModel.state_dict()``
    saved with ``torch.save``), otherwise trains it with ``context.fit`` (the harness's own loop,
    same train config and seed as the student). Returns metrics prefixed ``teacher_``.
    """
    metrics: dict[str, float] = {}
    if checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"teacher_checkpoint: no such file {path}")
        teacher.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        metrics["teacher_loaded"] = 1.0
    else:
        teacher.requires_grad_(True)
        result = context.fit(teacher, train, val)
        metrics["teacher_best_val"] = float(result.best_value)
        metrics["teacher_best_epoch"] = float(result.best_epoch)
    freeze(teacher)
    return metrics


def freeze(module: nn.Module) -> None:
    """No gradients and eval mode (dropout off) for a teacher."""
    module.requires_grad_(False)
    module.eval()
