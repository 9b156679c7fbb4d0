"""Layers shared by the model variants: positional encoding, heads, token selection, the sparse
MLP approximator, convolution stacks, and the multiply-accumulate counts that go with them.

MAC convention (used by every ``macs`` in this package): one multiply-accumulate per weight use in
linear, convolution and attention matrix products, one per element for batch-norm scaling and for
elementwise products that gate features. Embedding lookups, additions (biases, positional
encodings, pooling sums), nonlinearities and softmax normalisation are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from harness.core.dataset import PAD_TOKEN


def linear_macs(n_in: int, n_out: int) -> int:
    """MACs of one ``nn.Linear(n_in, n_out)`` application (one position)."""
    return n_in * n_out


def squeeze_outputs(outputs: torch.Tensor) -> torch.Tensor:
    """``(B, 1) -> (B,)`` for binary/regression heads; multiclass ``(B, C)`` is returned as is."""
    return outputs.squeeze(-1) if outputs.shape[-1] == 1 else outputs


def sinusoidal_encoding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Fixed sine/cosine encoding (Vaswani et al.) of integer positions.

    Parameters
    ----------
    positions : LongTensor, any shape ``S``
    dim : encoding width (even or odd)

    Returns
    -------
    FloatTensor, shape ``S + (dim,)``
    """
    half = (dim + 1) // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32) / half
    )
    angles = positions.to(torch.float32).unsqueeze(-1) * freqs
    # interleave sin and cos, then trim to an odd width if needed
    enc = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)
    return enc[..., :dim]


class PositionalEncoding(nn.Module):
    """Adds position information to token embeddings; position-wise, so it works on gathered
    (sparse) positions as well as on whole sequences and needs no maximum length."""

    def __init__(self, dim: int, enabled: bool = True) -> None:
        super().__init__()
        self.dim = dim
        self.enabled = enabled

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """Encoding of ``positions`` (any shape) -> shape ``positions.shape + (dim,)``; zeros
        when disabled."""
        if not self.enabled:
            return torch.zeros(*positions.shape, self.dim, device=positions.device)
        return sinusoidal_encoding(positions, self.dim)


class ClassifierHead(nn.Module):
    """The seed's classification head ``d -> hidden -> ReLU -> dropout -> n_outputs``.

    Outputs are unconstrained: a logit for binary, logits for multiclass and a raw value for
    regression (the seed put a sigmoid on regression outputs; we leave the range to the loss so
    the same head serves targets outside [0, 1]).
    """

    def __init__(self, n_in: int, hidden: int, n_outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs)
        )
        self.n_in, self.hidden, self.n_outputs = n_in, hidden, n_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_in) -> (B,)`` or ``(B, C)``."""
        return squeeze_outputs(self.net(x))

    def macs(self) -> int:
        return linear_macs(self.n_in, self.hidden) + linear_macs(self.hidden, self.n_outputs)


def n_selected(sparsity: float, length: int) -> int:
    """How many positions a sparse model keeps: ``ceil(sparsity * length)``, at least 1."""
    # the epsilon keeps float noise (0.1 * 30 = 3.0000000000000004) from adding a position
    return min(length, max(1, math.ceil(sparsity * length - 1e-9)))


def top_k_positions(
    logits: torch.Tensor, k: int, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Indices of the ``k`` highest-scoring positions per row, in ascending position order.

    Parameters
    ----------
    logits : (B, L) selector scores
    exclude : optional bool (B, L); such positions (PAD) rank below every other position

    Returns
    -------
    LongTensor (B, k)
    """
    ranking = logits.detach()
    if exclude is not None:
        ranking = ranking.masked_fill(exclude, float("-inf"))
    # sorted by position so that every code path gathers the same order (identical float sums)
    return ranking.topk(k, dim=1).indices.sort(dim=1).values


def window_offsets(window: int, device: torch.device | None = None) -> torch.Tensor:
    """Relative offsets ``-r..r`` of an odd window of width ``2r + 1``."""
    r = window // 2
    return torch.arange(-r, r + 1, device=device)


class TokenSelector(nn.Module):
    """The seed's ``TokenSelector`` MLP ``w*d -> d/2 -> ReLU -> 1`` scoring each position.

    With ``window == 1`` (the seed) a position is scored from its own feature (token embedding +
    positional encoding): it can prefer bases and positions but cannot recognise a motif. A window
    ``w > 1`` concatenates the features of the ``w`` positions centred on it (zeros beyond the
    ends), which is still O(L) and lets the scorer see short motifs. Returns logits; the seed's
    sigmoid is applied by the caller where a score in (0, 1) is wanted.
    """

    def __init__(self, embed_dim: int, window: int = 1) -> None:
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ValueError("selector window must be a positive odd number")
        self.embed_dim, self.window = embed_dim, window
        self.hidden = max(1, embed_dim // 2)
        self.scorer = nn.Sequential(
            nn.Linear(window * embed_dim, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 1)
        )

    def forward(self, window_features: torch.Tensor) -> torch.Tensor:
        """``(..., window * d) -> (...)`` logits."""
        return self.scorer(window_features).squeeze(-1)

    def windows_of(self, features: torch.Tensor) -> torch.Tensor:
        """Window features of every position: ``(B, L, d) -> (B, L, window * d)``."""
        if self.window == 1:
            return features
        r = self.window // 2
        padded = nn.functional.pad(features, (0, 0, r, r))
        # unfold -> (B, L, d, w); put the window axis before the feature axis, then flatten
        return padded.unfold(1, self.window, 1).transpose(-1, -2).flatten(-2)

    def macs(self, n_positions: int) -> int:
        per_position = linear_macs(self.window * self.embed_dim, self.hidden) + self.hidden
        return n_positions * per_position


def gather_windows(
    tokens: torch.Tensor, indices: torch.Tensor, window: int, pad_token: int = PAD_TOKEN
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Read the tokens of the windows centred on ``indices``; nothing else of ``tokens`` is read.

    Parameters
    ----------
    tokens : LongTensor (B, L)
    indices : LongTensor (B, k)

    Returns
    -------
    window_tokens : LongTensor (B, k, window), ``pad_token`` beyond the sequence ends
    positions : LongTensor (B, k, window), clamped into ``[0, L)``
    in_range : BoolTensor (B, k, window)
    """
    length = tokens.shape[1]
    raw = indices.unsqueeze(-1) + window_offsets(window, tokens.device)
    in_range = (raw >= 0) & (raw < length)
    positions = raw.clamp(0, length - 1)
    gathered = tokens.gather(1, positions.flatten(1)).view_as(positions)
    return gathered.masked_fill(~in_range, pad_token), positions, in_range


class MLPApproximator(nn.Module):
    """The seed's bottleneck MLP replacing attention on the selected positions.

    Input per selected position: ``[query, key, value]`` (3d), through ``depth`` bottleneck layers
    of width ``bottleneck`` and back to ``d``. ``depth=1`` is the Phase 3 script (3d -> 8 -> d, the
    2,346-parameter model); ``depth=2`` adds the appendix's extra 8 -> 8 layer.
    """

    def __init__(self, embed_dim: int, bottleneck: int = 8, depth: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(3 * embed_dim, bottleneck), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(bottleneck, bottleneck), nn.ReLU()]
        layers.append(nn.Linear(bottleneck, embed_dim))
        self.mlp = nn.Sequential(*layers)
        self.embed_dim, self.bottleneck, self.depth = embed_dim, bottleneck, depth

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Three ``(B, k, d)`` tensors -> ``(B, k, d)``."""
        return self.mlp(torch.cat([query, key, value], dim=-1))

    def macs(self, n_positions: int) -> int:
        d, b = self.embed_dim, self.bottleneck
        per_position = (
            linear_macs(3 * d, b) + (self.depth - 1) * linear_macs(b, b) + linear_macs(b, d)
        )
        return n_positions * per_position


def attention_macs(n_queries: int, n_keys: int, dim: int) -> int:
    """MACs of one multi-head self/cross attention with input and output projections.

    Q from ``n_queries`` positions, K and V from ``n_keys``: projections ``(n_q + 2 n_k) d^2``,
    scores ``n_q n_k d`` (summed over heads, each of width d/h), weighted values ``n_q n_k d``,
    output projection ``n_q d^2``.
    """
    projections = (n_queries + 2 * n_keys) * dim * dim + n_queries * dim * dim
    return projections + 2 * n_queries * n_keys * dim


@dataclass(frozen=True)
class ConvBlockSpec:
    """One Conv1d -> BatchNorm -> (ReLU) -> MaxPool block."""

    in_channels: int
    out_channels: int
    kernel: int
    relu: bool
    pool: int = 2


def _pool_out(length: int, pool: int) -> int:
    return length // pool


class ConvBlockStack(nn.Module):
    """A stack of valid (unpadded) convolution blocks, as in the Genomic Benchmarks CNN and AttnGen.

    ``output_length`` and ``min_length`` make the flatten width explicit; ``macs`` counts the
    convolutions plus one MAC per batch-norm output element.
    """

    def __init__(self, specs: list[ConvBlockSpec]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for s in specs:
            layers += [nn.Conv1d(s.in_channels, s.out_channels, s.kernel)]
            layers += [nn.BatchNorm1d(s.out_channels)]
            if s.relu:
                layers.append(nn.ReLU())
            layers.append(nn.MaxPool1d(s.pool))
        self.net = nn.Sequential(*layers)
        self.specs = specs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, L) -> (B, C_out, output_length(L))``."""
        return self.net(x)

    def output_length(self, length: int) -> int:
        for s in self.specs:
            length = _pool_out(length - s.kernel + 1, s.pool)
        return length

    def min_length(self) -> int:
        """Shortest input that leaves at least one output position."""
        length = 1
        for s in reversed(self.specs):
            length = length * s.pool + s.kernel - 1
        return length

    def macs(self, length: int) -> int:
        total = 0
        for s in self.specs:
            conv_len = length - s.kernel + 1
            total += conv_len * s.out_channels * s.in_channels * s.kernel
            total += conv_len * s.out_channels  # batch-norm scale
            length = _pool_out(conv_len, s.pool)
        return total


def pad_right(x: torch.Tensor, length: int, fill: torch.Tensor | float) -> torch.Tensor:
    """Pad ``(B, L, ...)`` along axis 1 to ``length`` with ``fill`` (broadcast over the rest)."""
    missing = length - x.shape[1]
    if missing <= 0:
        return x
    filler = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    filler = filler.expand(x.shape[0], missing, *x.shape[2:])
    return torch.cat([x, filler], dim=1)
