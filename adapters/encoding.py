"""The one DNA encoder: strings at the edges, uint8 tokens inside.

Tokens: A=0, C=1, G=2, T=3, N=4, PAD=5. IUPAC ambiguity codes become N (and are counted);
any other character is a user error naming where it was found.
"""

from __future__ import annotations

import numpy as np

from harness.core.dataset import PAD_TOKEN
from harness.core.errors import UserError

ALPHABET = "ACGTN"
IUPAC_AMBIGUOUS = "RYSWKMBDHV"
_COMPLEMENT = np.array([3, 2, 1, 0, 4, PAD_TOKEN], dtype=np.uint8)

_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(ALPHABET):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i
for _c in IUPAC_AMBIGUOUS:
    _LUT[ord(_c)] = 4
    _LUT[ord(_c.lower())] = 4
_AMBIGUOUS_MASK = np.zeros(256, dtype=bool)
for _c in IUPAC_AMBIGUOUS:
    _AMBIGUOUS_MASK[ord(_c)] = _AMBIGUOUS_MASK[ord(_c.lower())] = True


def encode_one(seq: str, where: str = "sequence") -> tuple[np.ndarray, int]:
    """Encode one sequence.

    Parameters
    ----------
    seq : str
        DNA over ACGTN (either case) plus IUPAC ambiguity codes.
    where : str
        Location used in error messages, e.g. ``"train.fa record 12 (chr1:100-300)"``.

    Returns
    -------
    tokens : np.ndarray, uint8, shape (len(seq),)
    n_ambiguous : int
        How many IUPAC ambiguity codes were turned into N.
    """
    if not seq:
        raise UserError(f"{where}: empty sequence")
    raw = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    tokens = _LUT[raw]
    bad = np.flatnonzero(tokens == 255)
    if bad.size:
        ch = seq[int(bad[0])]
        raise UserError(
            f"{where}: invalid character {ch!r} at position {int(bad[0]) + 1} "
            f"(valid: A, C, G, T, N and IUPAC codes {IUPAC_AMBIGUOUS})"
        )
    return tokens, int(_AMBIGUOUS_MASK[raw].sum())


def encode(seqs: list[str], length: int | None = None, where: str = "sequences") -> np.ndarray:
    """Encode equal-length sequences (or pad to ``length`` with PAD).

    Returns
    -------
    np.ndarray, uint8, shape (n, L)
    """
    encoded = [encode_one(s, f"{where} record {i + 1}")[0] for i, s in enumerate(seqs)]
    width = length or max((len(e) for e in encoded), default=0)
    out = np.full((len(encoded), width), PAD_TOKEN, dtype=np.uint8)
    for i, e in enumerate(encoded):
        out[i, : min(width, len(e))] = e[:width]
    return out


def decode(tokens: np.ndarray) -> list[str]:
    """Inverse of :func:`encode`; PAD is dropped. ``tokens``: (n, L) -> n strings."""
    table = np.array(list(ALPHABET + " "))
    return ["".join(table[row]).replace(" ", "") for row in np.atleast_2d(tokens)]


def reverse_complement(tokens: np.ndarray) -> np.ndarray:
    """Reverse complement of tokens, (..., L) -> (..., L); N and PAD map to themselves."""
    return _COMPLEMENT[tokens[..., ::-1]]


def one_hot(tokens: np.ndarray) -> np.ndarray:
    """(n, L) tokens -> (n, L, 4) float32; N and PAD are all-zero rows."""
    eye = np.vstack([np.eye(4, dtype=np.float32), np.zeros((2, 4), dtype=np.float32)])
    return eye[tokens]
