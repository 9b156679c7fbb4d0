"""Label-free token scores: how over-represented each token's k-mers are in the training sequences.

Motif discovery's oldest premise (MEME, HOMER): a functional element recurs across sequences far
more often than its composition predicts. ``sparse_transformer`` with ``selector_training:
enrichment`` ranks its tokens by it instead of by a selector trained from labels, which gets no
signal when the label depends on a *pair* of elements (``long_range_motifs``): a kept token is
only useful once its partner is kept too. The table is computed once from the training split
(never validation or test) and stored with the model's weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

N_BASES = 4  # A, C, G, T are tokens 0..3; N and PAD (4, 5) never form a k-mer
# k-mers counted per block of training sequences, so counting never holds all codes at once
COUNT_CELLS = 1 << 22


def kmer_codes(tokens: np.ndarray | torch.Tensor, k: int) -> np.ndarray | torch.Tensor:
    """Canonical k-mer code at every start, -1 where the k-mer holds N or PAD or runs off the end.

    Parameters
    ----------
    tokens : (B, L) integer tokens (A, C, G, T = 0..3), numpy or torch
    k : k-mer length (codes below 4**k)

    Returns
    -------
    (B, L) int64 of the same library: the smaller of the k-mer's and its reverse complement's
    base-4 codes, so a motif and its reverse complement share one code.
    """
    lib = torch if isinstance(tokens, torch.Tensor) else np
    length = tokens.shape[1]
    bases = tokens.astype(np.int64) if lib is np else tokens.long()
    valid = bases < N_BASES
    width = max(length - k + 1, 0)
    forward = bases[:, :width] * 0
    reverse = bases[:, :width] * 0
    ok = valid[:, :width]
    for j in range(k):
        piece = bases[:, j : j + width]
        forward = forward * N_BASES + piece
        reverse = reverse + (N_BASES - 1 - piece) * N_BASES**j
        ok = ok & valid[:, j : j + width]
    code = lib.minimum(forward, reverse)
    code = lib.where(ok, code, -1 * lib.ones_like(code))
    tail = -1 * lib.ones_like(bases[:, : length - width])
    return lib.concatenate([code, tail], 1) if lib is np else torch.cat([code, tail], 1)


def enrichment_table(tokens: np.ndarray, k: int) -> np.ndarray:
    """Log2 over-representation of every canonical k-mer in ``tokens``.

    ``log2((observed + 1) / (expected + 1))`` where ``expected`` is the count the k-mer would have
    if bases were drawn independently at the sequences' own frequencies (composition controlled:
    a GC-rich k-mer in GC-rich data is not enriched).

    Parameters
    ----------
    tokens : (n, L) uint8 training sequences
    k : k-mer length

    Returns
    -------
    (4**k,) float32, indexed by :func:`kmer_codes`; non-canonical codes hold the lowest score
    """
    counts = np.zeros(N_BASES**k, dtype=np.int64)
    composition = np.zeros(N_BASES, dtype=np.int64)
    rows = max(1, COUNT_CELLS // max(tokens.shape[1], 1))
    for start in range(0, len(tokens), rows):
        block = tokens[start : start + rows]
        codes = kmer_codes(block, k)
        counts += np.bincount(codes[codes >= 0], minlength=N_BASES**k)
        composition += np.bincount(block[block < N_BASES], minlength=N_BASES)[:N_BASES]
    freq = (composition + 1) / (composition.sum() + N_BASES)
    freq = (freq + freq[::-1]) / 2  # strand-symmetric: a k-mer is counted with its complement
    every = np.arange(N_BASES**k)
    digits = (every[:, None] // N_BASES ** np.arange(k)[::-1]) % N_BASES  # (4**k, k)
    probability = np.prod(freq[digits], axis=1)
    reverse = ((N_BASES - 1 - digits) * N_BASES ** np.arange(k)).sum(axis=1)
    canonical = every <= reverse
    # a canonical code counts both strands' occurrences (a palindrome only its own)
    probability = np.where(every == reverse, probability, 2 * probability)
    expected = probability * counts.sum() / probability[canonical].sum()
    table = np.log2((counts + 1) / (expected + 1))
    return np.where(canonical, table, table[canonical].min()).astype(np.float32)


class EnrichmentScorer(nn.Module):
    """Token scores from a k-mer enrichment table: the best k-mer overlapping the token.

    The table is a buffer (saved with the model), filled by :meth:`fit`; until then every score
    is zero (ties: the top-k is then arbitrary but deterministic).
    """

    def __init__(self, k: int, pool: int) -> None:
        super().__init__()
        self.k, self.pool = k, pool
        self.register_buffer("table", torch.zeros(N_BASES**k))

    def fit(self, tokens: np.ndarray) -> dict[str, float]:
        """Fill the table from training sequences ``(n, L)``; returns its spread (for logging)."""
        table = enrichment_table(tokens, self.k)
        self.table.copy_(torch.from_numpy(table))
        top = float(table.max())
        return {"enrichment_max": top, "enrichment_q99": float(np.quantile(table, 0.99))}

    def window(self, tokens: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        """Scores ``(B, stop - first)`` of tokens ``first .. stop - 1``.

        A token scores the table's best k-mer *overlapping* its ``pool`` bases, so every token
        an enriched element touches scores as the element does and they are kept together (a
        motif longer than a token stays whole). Reads ``k - 1`` bases each side of the tokens;
        ``-inf`` for a token that no whole k-mer overlaps (padding, N).
        """
        length, k, pool = tokens.shape[1], self.k, self.pool
        lo, hi = first * pool - (k - 1), min(stop * pool + k - 1, length)
        codes = kmer_codes(tokens[:, max(lo, 0) : hi], k)  # starts max(lo, 0) .. hi - 1
        starts = nn.functional.pad(codes, (max(-lo, 0), 0), value=-1)  # from lo
        width = (stop - first) * pool + k - 1  # starts lo .. stop * pool - 1
        starts = nn.functional.pad(starts, (0, max(width - starts.shape[1], 0)), value=-1)
        starts = starts[:, :width]
        scores = self.table[starts.clamp_min(0)].masked_fill(starts < 0, float("-inf"))
        # token i: the k-mers starting in [i * pool - k + 1, i * pool + pool - 1]
        return nn.functional.max_pool1d(scores.unsqueeze(1), pool + k - 1, pool).squeeze(1)
