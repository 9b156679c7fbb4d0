"""Records on their way to tokens: raw strings (:class:`Records`, encoded on demand) and encoded
ones stored flat (:class:`Encoded`); :func:`encode_batch` is the one vectorised encoder of many.

:func:`adapters.sequences.build_dataset` asks either for the rows it keeps
(``select(rows)``), so subsampling comes before encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from adapters.encoding import as_bytes, encode_bytes, valid_note
from harness.core.errors import UserError

Where = Callable[[int], str]
# (record, 0-based position in it) -> (location, "position p" / "column c") for a bad character
Locate = Callable[[int, int], tuple[str, str]]


@dataclass(frozen=True)
class Encoded:
    """Variable-length encoded records, stored flat (cheap to cache and to concatenate).

    Attributes
    ----------
    flat : np.ndarray, uint8, shape (sum(lengths),)
    lengths : np.ndarray, int64, shape (n,)
    n_ambiguous : int
        IUPAC ambiguity codes turned into N.
    """

    flat: np.ndarray
    lengths: np.ndarray
    n_ambiguous: int

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def records(self) -> list[np.ndarray]:
        """All records as views into ``flat``."""
        return np.split(self.flat, np.cumsum(self.lengths)[:-1]) if len(self.lengths) else []

    def select(self, rows: np.ndarray) -> Encoded:
        """The records ``rows`` (in that order); ``n_ambiguous`` is kept as counted."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == len(self.lengths) and (rows == np.arange(len(rows))).all():
            return self
        starts, sizes = self.starts[rows], self.lengths[rows]
        # one gather: every kept record's byte positions, concatenated
        within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        flat = np.asarray(self.flat)[np.repeat(starts, sizes) + within]
        return Encoded(flat, sizes.astype(np.int64), self.n_ambiguous)


@dataclass(frozen=True)
class Records:
    """Raw records not encoded yet: :func:`build_dataset` encodes only the rows it keeps
    (``max_train`` / ``max_val`` subsample before encoding). Lengths and empty records are
    checked over every record here; characters only in the rows kept.

    Attributes
    ----------
    seqs : n strings ; where, locate : as for :func:`encode_batch`
    """

    seqs: Sequence[str]
    where: Where
    locate: Locate | None = None

    def __post_init__(self) -> None:
        empty = np.flatnonzero(self.lengths == 0)
        if empty.size:
            more = f" ({empty.size} empty records in all)" if empty.size > 1 else ""
            raise UserError(f"{self.where(int(empty[0]))}: empty sequence{more}")

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.seqs), dtype=np.int64, count=len(self.seqs))

    def select(self, rows: np.ndarray) -> Encoded:
        """The records ``rows`` encoded (errors name the record's own location)."""
        rows = np.asarray(rows, dtype=np.int64)
        locate = self.locate

        def where(j: int) -> str:
            return self.where(int(rows[j]))

        def located(j: int, position: int) -> tuple[str, str]:
            assert locate is not None
            return locate(int(rows[j]), position)

        return encode_batch(
            [self.seqs[i] for i in rows], where, located if locate is not None else None
        )


def encode_batch(seqs: Sequence[str], where: Where, locate: Locate | None = None) -> Encoded:
    """Encode many records with one vectorised pass.

    Parameters
    ----------
    seqs : n strings
    where : i -> location of record i for error messages, e.g. ``"a.fa line 9 (record 3, chr1)"``
    locate : (i, position) -> (location, "column c") of a bad character, when the source can
        name its line (a multi-line FASTA record); default ``where(i)`` and the position

    Returns
    -------
    Encoded with ``flat`` uint8 (sum of lengths,) and ``lengths`` int64 (n,)
    """
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        more = f" ({empty.size} empty records in all)" if empty.size > 1 else ""
        raise UserError(f"{where(int(empty[0]))}: empty sequence{more}")
    if not len(seqs):
        return Encoded(np.zeros(0, np.uint8), lengths, 0)
    joined = "".join(seqs)
    flat, n_ambiguous, bad = encode_bytes(as_bytes(joined))
    if bad >= 0:
        # The record holding the first bad character, and the character's place in it.
        i = int(np.searchsorted(np.cumsum(lengths), bad, side="right"))
        position = bad - int(lengths[:i].sum())
        place, at = locate(i, position) if locate else (where(i), f"position {position + 1}")
        raise UserError(f"{place}: invalid character {joined[bad]!r} at {at} ({valid_note()})")
    return Encoded(flat, lengths, n_ambiguous)


def concat_encoded(parts: Sequence[Encoded]) -> Encoded:
    """Concatenate encoded record sets in order."""
    return Encoded(
        np.concatenate([p.flat for p in parts]) if parts else np.zeros(0, np.uint8),
        np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.int64),
        sum(p.n_ambiguous for p in parts),
    )
