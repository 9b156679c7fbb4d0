"""The transformer with block-local attention: the same model as ``transformer`` (conv stem, rotary
positions, pre-LN blocks, attention pooling, same training defaults), but each token attends only
within a local window, so the cost is linear in sequence length (a fair long-context baseline)."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch.nn import functional as F

from harness.core.dataset import DatasetInfo
from harness.core.registry import register_model
from models.blocks import SelfAttention
from models.transformer import TransformerModel, TransformerParams


class LocalTransformerParams(TransformerParams):
    window: int = Field(32, ge=1, description="tokens per attention block (window * pool bases)")
    overlap: bool = Field(
        True, description="each block also attends to the previous block (keys from 2 * window)"
    )


def block_local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    token_pad: torch.Tensor | None,
    window: int,
    overlap: bool,
    dropout: float = 0.0,
) -> torch.Tensor:
    """Attention inside blocks of ``window`` consecutive tokens, by SDPA on ``(B * n, H, w, dh)``.

    The T tokens are cut into ``n = ceil(T / w)`` blocks of ``w = min(window, T)`` tokens (the last
    one padded with masked keys). A query attends to the keys of its own block and, with
    ``overlap``, to those of the previous block as well (none before the first block; with a single
    block there is nothing to overlap and this is full attention, unmasked when nothing is
    padding). Nothing else is read, so one call costs ``O(T * w)``.

    Parameters
    ----------
    q, k, v : (B, H, T, dh), queries already rotated by their positions
    token_pad : BoolTensor (B, T) of tokens to hide as keys (padding), or None
    window : block width in tokens
    overlap : keys and values from [previous block, this block]

    Returns
    -------
    (B, H, T, dh)
    """
    batch, heads, n_tokens, dh = q.shape
    w = min(window, n_tokens)
    n_blocks = -(-n_tokens // w)
    extra = n_blocks * w - n_tokens
    if token_pad is None:
        token_pad = torch.zeros(batch, n_tokens, dtype=torch.bool, device=q.device)
    pad = F.pad(token_pad, (0, extra), value=True).view(batch, n_blocks, w)

    def blocked(x: torch.Tensor) -> torch.Tensor:  # (B, H, T, dh) -> (B, n, H, w, dh)
        return F.pad(x, (0, 0, 0, extra)).view(batch, heads, n_blocks, w, dh).transpose(1, 2)

    def previous(x: torch.Tensor) -> torch.Tensor:  # block i -> block i - 1 (zeros for i = 0)
        return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)

    qb, kb, vb = blocked(q), blocked(k), blocked(v)
    if overlap and n_blocks > 1:  # prepend each block's predecessor (masked zeros for block 0)
        kb, vb = torch.cat([previous(kb), kb], dim=3), torch.cat([previous(vb), vb], dim=3)
        pad = torch.cat([F.pad(pad[:, :-1], (0, 0, 1, 0), value=True), pad], dim=2)
    mask = None
    if bool(pad.any()):
        # a block whose keys are all padding holds only padding queries: let them attend
        # everywhere so the softmax stays defined (their outputs are never used)
        attend = ~pad | pad.all(dim=-1, keepdim=True)
        mask = attend.reshape(batch * n_blocks, 1, 1, -1)
    keys = kb.shape[3]
    y = F.scaled_dot_product_attention(
        qb.reshape(batch * n_blocks, heads, w, dh),
        kb.reshape(batch * n_blocks, heads, keys, dh),
        vb.reshape(batch * n_blocks, heads, keys, dh),
        attn_mask=mask,
        dropout_p=dropout,
    )
    y = y.view(batch, n_blocks, heads, w, dh).transpose(1, 2).reshape(batch, heads, -1, dh)
    return y[:, :, :n_tokens]


class LocalSelfAttention(SelfAttention):
    """:class:`~models.blocks.SelfAttention` (same projections, RoPE) restricted to local blocks.

    Called as ``attn(x, positions, token_pad)``: where the full model passes an SDPA mask
    ``(B, 1, 1, T)``, this one takes the padding tokens ``(B, T)`` (or None) and builds the
    per-block masks itself (:func:`block_local_attention`).
    """

    def __init__(
        self, dim: int, n_heads: int, dropout: float, rotary: bool, window: int, overlap: bool
    ) -> None:
        super().__init__(dim, n_heads, dropout, rotary)
        self.window, self.overlap = window, overlap

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None,
        keep: torch.Tensor | None,
        p: float,
    ) -> torch.Tensor:
        """Block-local attention; ``mask`` is the padding ``(B, T)`` (True = padding)."""
        if keep is not None:
            raise ValueError("local attention has no soft token keeping")
        return block_local_attention(q, k, v, mask, self.window, self.overlap, p)

    def macs(self, n_tokens: int) -> int:
        """Projections and RoPE per token; scores and weighted values over the padded blocks."""
        d = self.dim
        w = min(self.window, n_tokens)
        n_blocks = -(-n_tokens // w)
        keys = 2 * w if self.overlap and n_blocks > 1 else w
        rotation = 4 * n_tokens * d if self.rotary else 0
        return 4 * n_tokens * d * d + 2 * n_blocks * w * keys * d + rotation


@register_model("local_transformer", LocalTransformerParams)
class LocalTransformerModel(TransformerModel):
    """``transformer`` with block-local attention: each token attends within a window, O(L).

    Everything but the attention pattern is the ``transformer``'s (inherited: stem, blocks,
    pooling head, importance, ``train_defaults``), so a comparison isolates what full attention
    buys over local context.

    1. Stem: ``Embedding(6, d)`` -> ``Conv1d(d, d, 9, 'same')`` -> GELU -> max-pool 4 (PAD-aware;
       see :class:`~models.blocks.ConvStem`).
    2. Blocks: pre-LN ``x + drop(attn(LN x))``, ``x + drop(FFN(LN x))``, where attention is
       block-local (:func:`block_local_attention`): tokens are cut into blocks of
       ``w = min(window, T)`` tokens and SDPA runs on ``(B * n_blocks, H, w, dh)``, padding tokens
       and the padded tail of the last block masked as keys. With ``overlap`` (default) a block's
       queries also see the previous block's keys, a block-aligned sliding window of up to
       ``2w`` tokens: a token reads up to ``2w - 1`` tokens back and ``w - 1`` forward, and
       information travels one block to the right per layer. Without ``overlap`` blocks never
       exchange information (each is a separate sequence to attention; only the pooling head
       joins them). Rotary positions use the tokens' global indices, so relative offsets inside a
       window are the same as in the full model.
    3. Head: LayerNorm, attention pooling over non-padding tokens, MLP (as ``transformer``).

    Reach: the output state of a token in block i depends only on the bases of blocks
    ``i - n_blocks .. i`` with ``overlap`` (block i alone without), widened by the stem's
    ``kernel // 2`` bases at each end. When ``T <= window`` the model computes exactly what
    ``transformer`` computes with the same weights.

    Cost: attention sublayer per block ``4 T d^2`` (projections) ``+ 4 T d`` (RoPE)
    ``+ 2 n_blocks w K d`` (scores and weighted values, K = 2w with overlap, else w) ``+ T d``
    (LayerNorm), linear in T for a fixed window.
    """

    role: ClassVar[str | None] = None  # a long-context baseline under test, not the reference

    def __init__(self, params: LocalTransformerParams, info: DatasetInfo) -> None:
        super().__init__(params, info)
        rotary = params.positional == "rope"
        for block in self.blocks:
            block.attn = LocalSelfAttention(
                params.d_model,
                params.n_heads,
                params.dropout,
                rotary,
                params.window,
                params.overlap,
            )

    def attention_mask(self, token_pad: torch.Tensor) -> torch.Tensor | None:
        """The padding itself ``(B, T)``, or None without any: the blocks build their own masks."""
        return token_pad if bool(token_pad.any()) else None

    def token_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token states after the blocks, before pooling: ``(B, L) -> (B, T, d)``."""
        features, token_pad = self.stem(tokens)
        positions = torch.arange(features.shape[1], device=tokens.device)
        return self.encode(features, token_pad, positions)
