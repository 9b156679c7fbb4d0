"""The one DNA encoder: strings at the edges, uint8 tokens inside.

Tokens: A=0, C=1, G=2, T=3, N=4, PAD=5. IUPAC ambiguity codes become N (and are counted);
any other character is a user error naming where it was found. It lives in the core because
both sides of a model use it: the adapters (``adapters.encoding`` re-exports it) when they read
data, and the logged MLflow model (``harness.run.logged_model``) when it scores raw sequences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.core.dataset import PAD_TOKEN
from harness.core.errors import UserError

ALPHABET = "ACGTN"
IUPAC_AMBIGUOUS = "RYSWKMBDHV"

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


def encode_to_length(seqs: Sequence[str], length: int, where: str = "sequences") -> np.ndarray:
    """Encode sequences of any length into an ``(n, length)`` matrix the way the adapters'
    ``length_policy: pad`` does: shorter ones right-padded with PAD, longer ones center-cropped.

    Returns
    -------
    np.ndarray, uint8, shape (n, length)
    """
    out = np.full((len(seqs), length), PAD_TOKEN, dtype=np.uint8)
    for i, seq in enumerate(seqs):
        tokens = encode_one(str(seq), f"{where} record {i + 1}")[0]
        start = max(len(tokens) - length, 0) // 2  # the centre of a longer sequence
        kept = tokens[start : start + length]
        out[i, : len(kept)] = kept
    return out
