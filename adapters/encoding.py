"""The one DNA encoder (:mod:`harness.core.encoding`) and what the adapters build on it.

Tokens: A=0, C=1, G=2, T=3, N=4, PAD=5. IUPAC ambiguity codes become N (and are counted);
any other character is a user error naming where it was found.
"""

from __future__ import annotations

import numpy as np

from harness.core.dataset import PAD_TOKEN
from harness.core.encoding import (
    ALPHABET,
    IUPAC_AMBIGUOUS,
    as_bytes,
    encode_bytes,
    encode_one,
    valid_note,
)

# The encoder itself lives in harness.core.encoding (the logged MLflow models use it too); these
# names stay importable from here for the adapters.
__all__ = [
    "ALPHABET",
    "IUPAC_AMBIGUOUS",
    "PAD_TOKEN",
    "as_bytes",
    "decode",
    "encode",
    "encode_bytes",
    "encode_one",
    "one_hot",
    "reverse_complement",
    "valid_note",
]

_COMPLEMENT = np.array([3, 2, 1, 0, 4, PAD_TOKEN], dtype=np.uint8)


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
