"""Leakage between splits: sequences of an earlier split that recur in a later one.

Pure functions on token matrices. Order of splits is train < val < test; a sequence is counted
in the *earlier* split of each pair, exactly or as its reverse complement (a model that sees one
strand has effectively seen the other). PAD is ignored, so padded copies still match.

Dropping removes the rows from the earlier split (train vs val/test, val vs test): the test
split stays exactly the official one, so results remain comparable with published numbers.
"""

from __future__ import annotations

import numpy as np

from adapters.encoding import reverse_complement
from harness.core.dataset import PAD_TOKEN

PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))
_WEIGHTS = np.random.default_rng(0x5EED).integers(1, 2**63, size=4096, dtype=np.uint64) | 1


def canonical_rows(tokens: np.ndarray) -> np.ndarray:
    """Rows with every PAD moved to the end (order of the bases kept).

    Two rows are then equal exactly when their PAD-stripped sequences are: a right-padded row
    and the reverse complement of another (whose PAD lands at the start) compare correctly.
    tokens : uint8 (n, L) -> uint8 (n, L), C-contiguous
    """
    tokens = np.ascontiguousarray(tokens)
    is_pad = tokens == PAD_TOKEN
    if not is_pad.any():
        return tokens
    order = np.argsort(is_pad, axis=1, kind="stable")
    return np.ascontiguousarray(np.take_along_axis(tokens, order, axis=1))


def row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row (weighted sum of its 8-byte words, wrapping).

    Used only to find candidates fast; matches are confirmed byte for byte, so a collision can
    never be counted as leakage. rows : uint8 (n, L) -> uint64 (n,)
    """
    n, length = rows.shape
    width = -(-length // 8) * 8
    buf = np.zeros((n, width), dtype=np.uint8)
    buf[:, :length] = rows
    words = buf.view(np.uint64)
    weights = np.resize(_WEIGHTS, words.shape[1])
    with np.errstate(over="ignore"):
        return (words * weights).sum(axis=1, dtype=np.uint64)


def _found_in(
    query: np.ndarray, query_hash: np.ndarray, target: np.ndarray, target_hash: np.ndarray
) -> np.ndarray:
    """Which query rows occur among the target rows (exact bytes). -> bool (len(query),)"""
    hit = np.isin(query_hash, target_hash)
    if hit.any():
        near = target[np.isin(target_hash, query_hash[hit])]
        present = {row.tobytes() for row in near}
        hit[hit] = [row.tobytes() in present for row in query[hit]]
    return hit


def find_leakage(tokens: np.ndarray, split: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows of the earlier split of each pair whose sequence occurs in the later split.

    Parameters
    ----------
    tokens : np.ndarray, uint8, shape (n, L)
    split : dict train/val/test -> int index arrays into ``tokens``

    Returns
    -------
    dict ``"{a}_{b}_exact"`` / ``"{a}_{b}_revcomp"`` -> int64 indices (into ``tokens``) of rows
    of split ``a`` found in split ``b``. ``revcomp`` holds rows whose reverse complement, but
    not the sequence itself, is in ``b`` (so the two never overlap).
    """
    forward = canonical_rows(tokens)
    backward = canonical_rows(reverse_complement(tokens))
    fwd_hash, bwd_hash = row_hashes(forward), row_hashes(backward)
    found: dict[str, np.ndarray] = {}
    for a, b in PAIRS:
        rows = np.asarray(split.get(a, ()), dtype=np.int64)
        later = np.asarray(split.get(b, ()), dtype=np.int64)
        target, target_hash = forward[later], fwd_hash[later]
        exact = _found_in(forward[rows], fwd_hash[rows], target, target_hash)
        rc = _found_in(backward[rows], bwd_hash[rows], target, target_hash) & ~exact
        found[f"{a}_{b}_exact"] = rows[exact]
        found[f"{a}_{b}_revcomp"] = rows[rc]
    return found


def leakage_counts(found: dict[str, np.ndarray]) -> dict[str, int]:
    """Flat counts of :func:`find_leakage`, e.g. ``{"train_test_exact": 3, ...}``."""
    return {k: len(v) for k, v in found.items()}


def drop_leaked(
    split: dict[str, np.ndarray], found: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Split with every leaked row removed from its earlier split; test is never touched."""
    out = dict(split)
    for a in ("train", "val"):
        leaked = [v for k, v in found.items() if k.startswith(f"{a}_")]
        if leaked:
            out[a] = np.setdiff1d(split[a], np.concatenate(leaked))
    return out
