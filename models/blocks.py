"""Transformer building blocks shared by ``transformer`` and ``sparse_transformer``.

A convolutional stem turns bases into tokens (one token per ``pool`` bases), rotary position
embeddings (RoPE) give attention the tokens' relative positions, pre-LayerNorm blocks of multi-head
attention (``scaled_dot_product_attention``) and a 4x GELU feed-forward transform them, and an
attention-pooling head reads them out.

MAC convention: as in :mod:`models.layers` (one per weight use in linear / convolution / attention
products, one per element for elementwise scaling: LayerNorm's gain, the rotary rotation, pooling
weights). Embedding lookups, additions, nonlinearities and softmax are not counted.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from models.layers import linear_macs, squeeze_outputs

ROPE_BASE = 10000.0
# Kept tokens recomputed per step by ConvStem.gather: their bases' embeddings take 4 * d * field
# bytes each (3 KB at d = 64), so 512 tokens hold ~1.5 MB at once however many are kept.
GATHER_CHUNK = 512


# ----------------------------------------------------------------------------------- positions
def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate query/key features by their positions (Su et al., RoFormer; rotate-half layout).

    Parameters
    ----------
    x : (B, H, T, dh) queries or keys, ``dh`` even
    positions : (T,) or (B, T) integer positions of the T tokens (any values: gathered tokens keep
        their original index, so attention among kept tokens sees their true distances)

    Returns
    -------
    (B, H, T, dh), same dtype as ``x``
    """
    half = x.shape[-1] // 2
    freqs = ROPE_BASE ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.to(torch.float32).unsqueeze(-1) * freqs  # (..., T, half)
    if angles.dim() == 3:  # per-row positions: broadcast over heads
        angles = angles.unsqueeze(1)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


# ---------------------------------------------------------------------------------------- stem
class ConvStem(nn.Module):
    """Bases -> tokens: ``Embedding -> Conv1d(k, 'same') -> GELU -> max-pool(pool)``.

    A sequence of L bases becomes ``T = ceil(L / pool)`` tokens of width d. PAD bases embed to zero
    (exactly what the convolution's zero padding feeds in beyond the ends) and their convolution
    outputs are excluded from the max, so a token's value never depends on padding: appending PAD
    leaves every real token unchanged, and a token whose bases are all PAD is reported as padding
    (its features are zero). Token i reads bases ``[i*pool - r, i*pool + pool - 1 + r]`` with
    ``r = kernel // 2`` (its receptive field, :meth:`receptive_field`).
    """

    def __init__(
        self, vocab_size: int, pad_token: int, dim: int, kernel: int = 9, pool: int = 4
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError("stem kernel must be odd, so each output is centred on its base")
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_token)
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.pad_token, self.dim, self.kernel, self.pool = pad_token, dim, kernel, pool

    def n_tokens(self, length: int) -> int:
        return -(-length // self.pool)

    def receptive_field(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First and last base (inclusive, may lie beyond the ends) read by token ``index``."""
        r = self.kernel // 2
        return index * self.pool - r, index * self.pool + self.pool - 1 + r

    def _pool(self, conv: torch.Tensor, base_pad: torch.Tensor) -> torch.Tensor:
        """Masked max over groups of ``pool`` conv outputs: ``(N, d, P*pool) -> (N, P, d)``."""
        conv = F.gelu(conv).masked_fill(base_pad.unsqueeze(1), float("-inf"))
        pooled = conv.unflatten(-1, (-1, self.pool)).amax(dim=-1).transpose(1, 2)
        # all-PAD tokens: -inf -> 0, so downstream sums and convolutions stay finite
        return pooled.masked_fill(torch.isinf(pooled), 0.0)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens of whole sequences.

        Parameters
        ----------
        tokens : LongTensor (B, L)

        Returns
        -------
        features : (B, T, d), zero at padding tokens
        token_pad : BoolTensor (B, T), True where every base of the token is PAD
        """
        return self.from_embedded(self.embedding(tokens), tokens)

    def from_embedded(
        self, embedded: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` after the embedding lookup (for gradients at the embedding)."""
        base_pad = self._base_padding(tokens)
        extra = base_pad.shape[1] - tokens.shape[1]
        conv = F.pad(self.conv(embedded.transpose(1, 2)), (0, extra))
        return self._pool(conv, base_pad), base_pad.unflatten(-1, (-1, self.pool)).all(-1)

    def _base_padding(self, tokens: torch.Tensor) -> torch.Tensor:
        """PAD bases ``(B, T*pool)``, the last token's missing bases counted as PAD."""
        extra = self.n_tokens(tokens.shape[1]) * self.pool - tokens.shape[1]
        return F.pad(tokens == self.pad_token, (0, extra), value=True)

    def token_padding(self, tokens: torch.Tensor) -> torch.Tensor:
        """Padding tokens ``(B, T)`` (every base PAD), without computing any feature."""
        return self._base_padding(tokens).unflatten(-1, (-1, self.pool)).all(-1)

    def gather(
        self, tokens: torch.Tensor, indices: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``indices`` computed from their receptive fields alone (one gather of bases).

        Equal (to float rounding) to ``forward(tokens)`` at ``indices``; no other base is read.

        Parameters
        ----------
        tokens : LongTensor (B, L)
        indices : LongTensor (B, K) token indices

        Returns
        -------
        features : (B, K, d); token_pad : BoolTensor (B, K)
        """
        if indices.shape[1] > GATHER_CHUNK:  # bound the (B*K, d, field) embedding's memory
            parts = [self.gather(tokens, part) for part in indices.split(GATHER_CHUNK, dim=1)]
            return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)
        batch, length = tokens.shape
        r, span = self.kernel // 2, self.pool + 2 * (self.kernel // 2)
        start, _ = self.receptive_field(indices)
        raw = start.unsqueeze(-1) + torch.arange(span, device=tokens.device)  # (B, K, span)
        inside = (raw >= 0) & (raw < length)
        read = tokens.gather(1, raw.clamp(0, length - 1).flatten(1)).view_as(raw)
        read = read.masked_fill(~inside, self.pad_token)  # beyond the ends = zero padding
        embedded = self.embedding(read).flatten(0, 1).transpose(1, 2)  # (B*K, d, span)
        conv = F.conv1d(embedded, self.conv.weight, self.conv.bias)  # (B*K, d, pool)
        base_pad = (read == self.pad_token)[..., r : r + self.pool].flatten(0, 1)
        features = self._pool(conv, base_pad).view(batch, -1, self.dim)
        return features, base_pad.all(-1).view(batch, -1)

    def window(
        self, tokens: torch.Tensor, first: int, stop: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``first .. stop - 1`` computed from their receptive fields alone.

        Equal (to float rounding) to ``forward(tokens)[:, first:stop]``; reads bases
        ``[first*pool - r, stop*pool + r)`` only, so a long sequence can be streamed through the
        stem a window at a time with memory bounded by the window, not the length.

        Parameters
        ----------
        tokens : LongTensor (B, L)
        first, stop : token range, ``0 <= first < stop <= ceil(L / pool)``

        Returns
        -------
        features : (B, stop - first, d); token_pad : BoolTensor (B, stop - first)
        """
        length, r = tokens.shape[1], self.kernel // 2
        lo, hi = first * self.pool - r, stop * self.pool + r
        read = tokens[:, max(lo, 0) : min(hi, length)]
        # beyond the ends = PAD, which embeds to zero: the convolution's own zero padding
        read = F.pad(read, (max(-lo, 0), max(hi - length, 0)), value=self.pad_token)
        conv = F.conv1d(self.embedding(read).transpose(1, 2), self.conv.weight, self.conv.bias)
        base_pad = read[:, r : read.shape[1] - r] == self.pad_token
        pad = base_pad.unflatten(-1, (-1, self.pool)).all(-1)
        return self._pool(conv, base_pad), pad

    def macs(self, length: int) -> int:
        return length * self.dim * self.dim * self.kernel


# ----------------------------------------------------------------------------------- attention
def key_mask_of(token_pad: torch.Tensor) -> torch.Tensor | None:
    """SDPA boolean mask ``(B, 1, 1, T)`` (True = attend) hiding padding tokens, or ``None`` when
    no token in the batch is padding (SDPA then takes its unmasked fast path). A row that is all
    padding attends everywhere, so its softmax stays defined (its output is never used)."""
    if not bool(token_pad.any()):
        return None
    attend = ~token_pad | token_pad.all(dim=1, keepdim=True)
    return attend[:, None, None, :]


class SelfAttention(nn.Module):
    """Multi-head self-attention with rotary positions, computed by SDPA.

    With ``keep`` (DynamicViT training, Rao et al. 2021) the softmax is computed by hand as
    ``exp(s_ij) G_j / sum_k exp(s_ik) G_k`` with G_i = 1 on the diagonal, so a dropped token is
    masked out yet its keep decision G_j still receives a gradient.
    """

    def __init__(self, dim: int, n_heads: int, dropout: float, rotary: bool = True) -> None:
        super().__init__()
        if dim % n_heads or (dim // n_heads) % 2:
            raise ValueError("d_model must split into n_heads heads of even width")
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.n_heads, self.dim, self.dropout, self.rotary = n_heads, dim, dropout, rotary

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None = None,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, T, d) -> (B, T, d)``; ``mask`` from :func:`key_mask_of`, ``keep`` (B, T)."""
        q, k, v = self.qkv(x).unflatten(-1, (3, self.n_heads, -1)).permute(2, 0, 3, 1, 4)
        if self.rotary:
            q, k = rope(q, positions), rope(k, positions)
        p = self.dropout if self.training else 0.0
        return self.out(self.attend(q, k, v, mask, keep, p).transpose(1, 2).flatten(2))

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None,
        keep: torch.Tensor | None,
        p: float,
    ) -> torch.Tensor:
        """Rotated queries, keys, values ``(B, H, T, dh)`` -> attended values ``(B, H, T, dh)``:
        full SDPA, or with soft token keeping (the one step subclasses replace)."""
        if keep is None:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return _kept_attention(q, k, v, mask, keep, p)

    def macs(self, n_tokens: int) -> int:
        d = self.dim
        rotation = 4 * n_tokens * d if self.rotary else 0  # q and k: two products per element
        return 4 * n_tokens * d * d + 2 * n_tokens * n_tokens * d + rotation


def _kept_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    keep: torch.Tensor,
    dropout: float,
) -> torch.Tensor:
    """DynamicViT's masked softmax; see :class:`SelfAttention`. ``keep`` (B, T) -> (B, 1, T, T)."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    eye = torch.eye(scores.shape[-1], dtype=keep.dtype, device=keep.device)
    gate = keep[:, None, None, :] * (1 - eye) + eye
    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True)) * gate
    weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-6)
    return F.dropout(weights, dropout, training=dropout > 0) @ v


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + drop(attn(LN x))``, then ``x + drop(ffn(LN x))``."""

    def __init__(
        self, dim: int, n_heads: int, ffn_mult: int, dropout: float, rotary: bool = True
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, n_heads, dropout, rotary)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim)
        )
        self.drop = nn.Dropout(dropout)
        self.dim, self.hidden = dim, ffn_mult * dim

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None = None,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, T, d) -> (B, T, d)``; see :meth:`SelfAttention.forward`."""
        x = x + self.drop(self.attn(self.norm1(x), positions, mask, keep))
        return x + self.drop(self.ffn(self.norm2(x)))

    def attention_macs(self, n_tokens: int) -> int:
        return self.attn.macs(n_tokens) + n_tokens * self.dim  # + LayerNorm gain

    def ffn_macs(self, n_tokens: int) -> int:
        return n_tokens * (2 * linear_macs(self.dim, self.hidden) + self.dim)


# ---------------------------------------------------------------------------------------- head
class PoolingHead(nn.Module):
    """Final LayerNorm, attention pooling over tokens, then ``d -> d -> GELU -> drop -> out``.

    Pooling weights are ``softmax_i(w . x_i)`` over non-padding tokens; ``keep`` (B, T) in [0, 1]
    multiplies them before normalising (DynamicViT training), as in :func:`_kept_attention`.
    """

    def __init__(self, dim: int, n_outputs: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.score = nn.Linear(dim, 1)
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, n_outputs)
        )
        self.dim, self.n_outputs = dim, n_outputs

    def weights(
        self, x: torch.Tensor, token_pad: torch.Tensor, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised tokens ``(B, T, d)`` and pooling weights ``(B, T)`` (zero at padding)."""
        x = self.norm(x)
        logits = self.score(x).squeeze(-1)
        # an all-padding row pools everything, so its output stays finite
        hidden = token_pad & ~token_pad.all(dim=1, keepdim=True)
        logits = logits.masked_fill(hidden, float("-inf"))
        if keep is None:
            return x, torch.softmax(logits, dim=-1)
        weights = torch.exp(logits - logits.amax(dim=-1, keepdim=True)) * keep
        return x, weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-6)

    def forward(
        self, x: torch.Tensor, token_pad: torch.Tensor, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, T, d) -> (B,)`` or ``(B, C)``."""
        x, weights = self.weights(x, token_pad, keep)
        return squeeze_outputs(self.mlp((weights.unsqueeze(-1) * x).sum(dim=1)))

    def macs(self, n_tokens: int) -> int:
        d = self.dim
        pooling = n_tokens * d + n_tokens * d  # scores, weighted sum
        return n_tokens * d + pooling + linear_macs(d, d) + linear_macs(d, self.n_outputs)


# ------------------------------------------------------------------------------------ selector
class TokenScorer(nn.Module):
    """Context-aware token selector: ``LN -> Conv1d(d, h, 3) -> GELU -> Conv1d(h, 1, 1)``, plus,
    with ``positions`` > 0, a fixed per-position prior (a buffer, filled by the model).

    It reads the stem's tokens (each already a k-base motif detector) and their two neighbours, so
    a score reflects the local sequence, not a bag of nucleotides. O(T). The convolution cannot
    tell where a token sits; on aligned sequences (TSS-centred promoters, where the TATA box is
    always ~30 bp upstream) where a token sits says much of whether it matters, hence the prior
    (``models.position_prior``; zero until filled; tokens at index >= ``positions`` get none).
    """

    def __init__(self, dim: int, hidden: int, width: int = 3, positions: int = 0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, hidden, width, padding=width // 2)
        self.out = nn.Conv1d(hidden, 1, 1)
        self.prior: torch.Tensor | None
        self.register_buffer("prior", torch.zeros(positions) if positions else None)
        self.dim, self.hidden, self.width = dim, hidden, width

    def forward(
        self,
        features: torch.Tensor,
        token_pad: torch.Tensor,
        index: torch.Tensor | None = None,
        prior: bool = True,
    ) -> torch.Tensor:
        """Token scores ``(B, T)`` from stem features ``(B, T, d)``; padding scores ``-inf``.

        ``index``: the tokens' absolute indices ``(T,)`` or ``(B, T)`` (default ``0 .. T-1``),
        read by the prior only; ``prior=False``: the content score alone.
        """
        x = self.norm(features).masked_fill(token_pad.unsqueeze(-1), 0.0)
        scores = self.out(F.gelu(self.conv(x.transpose(1, 2)))).squeeze(1)
        scores = scores.masked_fill(token_pad, float("-inf"))
        return self.add_prior(scores, index) if prior else scores

    def add_prior(self, scores: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``scores`` ``(B, T)`` plus the prior at the tokens' absolute ``index`` (as in
        :meth:`forward`); unchanged without a prior."""
        if self.prior is None:
            return scores
        if index is None:
            index = torch.arange(scores.shape[1], device=scores.device)
        n = len(self.prior)
        inside = (index >= 0) & (index < n)
        return scores + self.prior[index.clamp(0, n - 1)] * inside

    def macs(self, n_tokens: int) -> int:
        return n_tokens * (self.dim + self.width * self.dim * self.hidden + self.hidden)
