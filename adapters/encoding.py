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


def valid_note() -> str:
    """What the encoder accepts and what it does with it, for every invalid-character message."""
    codes = ", ".join(IUPAC_AMBIGUOUS)
    return (
        f"valid: A, C, G, T, N in either case, and the IUPAC ambiguity codes {codes}, which "
        "are read as N; anything else, gaps '-' and '.' included, is refused"
    )


def as_bytes(seq: str) -> np.ndarray:
    """``seq`` as uint8 ASCII codes; a non-ASCII character becomes one ``?`` (still invalid), so
    byte positions are character positions."""
    return np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)


def encode_bytes(raw: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Encode ASCII codes in one vectorised pass.

    Returns
    -------
    tokens : uint8, shape (len(raw),) (255 where invalid)
    n_ambiguous : int, IUPAC ambiguity codes turned into N
    first_bad : 0-based index of the first invalid byte, -1 when every byte is valid
    """
    tokens = _LUT[raw]
    first_bad = int(np.argmax(tokens == 255)) if tokens.max(initial=0) == 255 else -1
    return tokens, int(np.count_nonzero(_AMBIGUOUS_MASK[raw])), first_bad


def encode_one(seq: str, where: str = "sequence") -> tuple[np.ndarray, int]:
    """Encode one sequence.

    Parameters
    ----------
    seq : str
        DNA over ACGTN (either case) plus IUPAC ambiguity codes.
    where : str
        Location used in error messages, e.g. ``"train.fa line 40 (record 12, chr1:100-300)"``.

    Returns
    -------
    tokens : np.ndarray, uint8, shape (len(seq),)
    n_ambiguous : int
        How many IUPAC ambiguity codes were turned into N.
    """
    if not seq:
        raise UserError(f"{where}: empty sequence")
    tokens, n_ambiguous, bad = encode_bytes(as_bytes(seq))
    if bad >= 0:
        raise UserError(
            f"{where}: invalid character {seq[bad]!r} at position {bad + 1} ({valid_note()})"
        )
    return tokens, n_ambiguous


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
