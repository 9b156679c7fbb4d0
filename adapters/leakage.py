"""Leakage between splits: sequences of an earlier split that recur in a later one.

Pure functions on token matrices. Order of splits is train < val < test; a sequence is counted
in the *earlier* split of each pair, exactly or as its reverse complement (a model that sees one
strand has effectively seen the other). PAD is ignored, so padded copies still match.

Near-duplicates are counted too (:func:`find_near_duplicates`): rows whose canonical
:data:`NEAR_K`-mer sets have Jaccard similarity >= :data:`NEAR_THRESHOLD` with a row of the later
split, the homology-leakage criterion of Genomic Benchmarks. They are reported, never dropped.

Dropping removes the exact and reverse-complement rows from the earlier split (train vs val/test,
val vs test): the test split stays exactly the official one, so results remain comparable with
published numbers.
"""

from __future__ import annotations

import numpy as np

from adapters.encoding import reverse_complement
from harness.core.dataset import PAD_TOKEN

PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))
# Kinds that drop_leaked removes; "near" is reported only (a similar sequence is not a copy).
DROPPED_KINDS = ("exact", "revcomp")
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
    dict ``"{a}_{b}_exact"`` / ``"{a}_{b}_revcomp"`` / ``"{a}_{b}_near"`` -> int64 indices (into
    ``tokens``) of rows of split ``a`` found in split ``b``. ``revcomp`` holds rows whose reverse
    complement, but not the sequence itself, is in ``b``; ``near`` rows with a near-duplicate
    in ``b`` (:func:`find_near_duplicates`) that are neither, so the three never overlap; no
    ``near`` keys where lengths are outside :data:`NEAR_LENGTHS`.
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
    near = find_near_duplicates(tokens, split)
    for a, b in PAIRS if near else ():
        same = np.concatenate([found[f"{a}_{b}_exact"], found[f"{a}_{b}_revcomp"]])
        found[f"{a}_{b}_near"] = np.setdiff1d(near[f"{a}_{b}"], same)
    return found


def leakage_counts(found: dict[str, np.ndarray]) -> dict[str, int]:
    """Flat counts of :func:`find_leakage`, e.g. ``{"train_test_exact": 3, ...}``."""
    return {k: len(v) for k, v in found.items()}


def drop_leaked(
    split: dict[str, np.ndarray], found: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Split with every exact / reverse-complement leaked row removed from its earlier split;
    test is never touched, near-duplicates are kept."""
    out = dict(split)
    for a in ("train", "val"):
        leaked = [
            v for k, v in found.items() if k.startswith(f"{a}_") and k.endswith(DROPPED_KINDS)
        ]
        if leaked:
            out[a] = np.setdiff1d(split[a], np.concatenate(leaked))
    return out


# ---------------------------------------------------------------------------------------------
# Near-duplicates: k-mer Jaccard, MinHash (one-permutation) LSH candidates, verified exactly

NEAR_K = 6
NEAR_THRESHOLD = 0.7
# Outside these lengths near-duplicates are not counted: above, nearly every 6-mer occurs in every
# sequence, so the Jaccard of 6-mer sets no longer measures similarity; below, most MinHash bins
# are empty and the LSH buckets degenerate.
NEAR_LENGTHS = (30, 1000)
_N_CODES = 4**NEAR_K
_N_BINS = _N_CODES // 64  # one-permutation MinHash: one bin per 64-bit word of the k-mer set
# a random order of the codes, the N/PAD sentinel kept last
_PERM_SENTINEL = np.append(np.random.default_rng(0x6B3E).permutation(_N_CODES), _N_CODES).astype(
    np.int16
)
_ALL_EMPTY = np.uint32(0x40404040)  # a band key whose 4 bins are all empty (64 each)
_NO_KEY = np.uint32(0xFFFFFFFF)  # matches no band key (bins are at most 64)
_CHUNK = 4096  # rows per presence-matrix chunk (4096 x 4097 bools = 16 MiB)
_PAIR_CHUNK = 1 << 16  # candidate pairs verified at once (x 512 bytes each)


def kmer_codes(tokens: np.ndarray, k: int = NEAR_K) -> np.ndarray:
    """Canonical k-mer code at every window: min(code, code of its reverse complement).

    Canonical codes make the k-mer set strand-blind, like the exact check: a sequence and its
    reverse complement have the same set.
    tokens : uint8 (n, L) -> int16 (n, L - k + 1) in [0, 4**k); 4**k where the window holds N/PAD
    (k <= 7 so that codes fit int16, which keeps this pass cheap)
    """
    t = np.asarray(tokens)
    width = max(t.shape[1] - k + 1, 0)
    fwd = np.zeros((t.shape[0], width), dtype=np.int16)
    rev = np.zeros_like(fwd)
    for j in range(k):
        base = (t[:, j : j + width] & 3).astype(np.int16)
        fwd <<= 2
        fwd |= base
        rev |= (3 - base) << (2 * j)
    codes = np.minimum(fwd, rev)
    bad = t >= 4
    if bad.any():
        run = np.zeros((t.shape[0], t.shape[1] + 1), dtype=np.int32)
        np.cumsum(bad, axis=1, out=run[:, 1:])
        codes[run[:, k : k + width] > run[:, :width]] = 4**k
    return codes


def kmer_sketches(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k-mer sets as bit sets, and their one-permutation MinHash signatures.

    The canonical k-mer codes are first permuted at random (fixed seed), so that word ``w`` of a
    row's bit set holds the row's k-mers among permuted codes ``64 w .. 64 w + 63``: one MinHash
    bin. The bin's minimum is then the word's lowest set bit. Jaccard similarity does not depend
    on the order of the codes, so the same bit sets serve for the exact check.

    Returns
    -------
    bits : uint64 (n, 4**k / 64), the canonical k-mer set of each row (permuted code order)
    signature : uint8 (n, 64); per bin, the lowest permuted offset the row holds, 64 when none
    """
    n = len(tokens)
    bits = np.zeros((n, _N_BINS), dtype="<u8")
    for start in range(0, n, _CHUNK):
        codes = _PERM_SENTINEL[kmer_codes(tokens[start : start + _CHUNK])]
        present = np.zeros((len(codes), _N_CODES + 1), dtype=bool)
        present[np.arange(len(codes))[:, None], codes] = True
        packed = np.packbits(present[:, :_N_CODES], axis=1, bitorder="little")
        bits[start : start + len(codes)] = packed.view("<u8")
    # lowest set bit: popcount of the bits below it; an empty word gives 64
    with np.errstate(over="ignore"):
        lowest = (bits & (~bits + np.uint64(1))) - np.uint64(1)
    return bits, np.bitwise_count(lowest).astype(np.uint8)


def jaccard_pairs(bits: np.ndarray, sizes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the k-mer sets of rows ``i[p]`` and ``j[p]``.

    bits : uint64 (n, words); sizes : int (n,) set sizes; i, j : int (m,) -> float64 (m,),
    0 where both sets are empty.
    """
    out = np.zeros(len(i), dtype=np.float64)
    for s in range(0, len(i), _PAIR_CHUNK):
        a, b = i[s : s + _PAIR_CHUNK], j[s : s + _PAIR_CHUNK]
        inter = np.bitwise_count(bits[a] & bits[b]).sum(axis=1, dtype=np.int64)
        union = sizes[a] + sizes[b] - inter
        out[s : s + _PAIR_CHUNK] = np.divide(inter, union, out=np.zeros(len(a)), where=union > 0)
    return out


def _band_candidates(
    keys_a: np.ndarray, keys_b: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every (row of a, row of b) pair with equal band keys. -> two int64 arrays (m,)"""
    keys_a = np.where(keys_a == _ALL_EMPTY, _NO_KEY, keys_a)  # no k-mer in the band: no evidence
    order = np.argsort(keys_b, kind="stable")
    sorted_b = keys_b[order]
    lo = np.searchsorted(sorted_b, keys_a, side="left")
    hi = np.searchsorted(sorted_b, keys_a, side="right")
    counts = hi - lo
    left = np.repeat(rows_a, counts)
    # offsets of each pair inside its bucket: 0..count-1, vectorised
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    right = rows_b[order[starts + np.arange(counts.sum())]]
    return left, right


def _near_rows(
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    bits: np.ndarray,
    sizes: np.ndarray,
    signature: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Rows of ``rows_a`` with a row of ``rows_b`` at Jaccard >= ``threshold`` (LSH, verified).

    A row found in one band is not looked up again, so each row costs at most one confirmed pair.
    """
    # 16 bands of 4 bins (one uint32 each): P(candidate) = 1 - (1 - J^4)^16, 0.988 at J = 0.7
    keys = np.ascontiguousarray(signature).view(np.uint32)
    found = np.zeros(0, dtype=np.int64)
    pending = rows_a
    for band in range(keys.shape[1]):
        if not len(pending) or not len(rows_b):
            break
        left, right = _band_candidates(keys[pending, band], keys[rows_b, band], pending, rows_b)
        hit = left[jaccard_pairs(bits, sizes, left, right) >= threshold]
        if len(hit):
            found = np.union1d(found, hit)
            pending = np.setdiff1d(pending, hit, assume_unique=True)
    return found


def find_near_duplicates(
    tokens: np.ndarray, split: dict[str, np.ndarray], threshold: float = NEAR_THRESHOLD
) -> dict[str, np.ndarray]:
    """Rows of the earlier split of each pair with a near-duplicate in the later split.

    Near-duplicate: the canonical :data:`NEAR_K`-mer sets (k-mers with N or PAD left out) have
    Jaccard similarity >= ``threshold``. Candidates come from MinHash LSH (one permutation, 64
    bins, 16 bands of 4) and are verified with the exact Jaccard, so nothing is over-counted; a
    pair at J = 0.7 is missed with probability about 1.2% (less above), so counts are a slight
    lower bound. The bands are tuned for thresholds near 0.7: far lower ones lose recall.
    Sequences outside :data:`NEAR_LENGTHS` are not compared.

    Parameters
    ----------
    tokens : uint8 (n, L)
    split : train/val/test -> int index arrays into ``tokens``

    Returns
    -------
    dict ``"{a}_{b}"`` -> sorted int64 indices of rows of split ``a`` (including exact copies);
    empty dict when the length is outside :data:`NEAR_LENGTHS`
    """
    if not NEAR_LENGTHS[0] <= tokens.shape[1] <= NEAR_LENGTHS[1]:
        return {}
    bits, signature = kmer_sketches(tokens)
    sizes = np.bitwise_count(bits).sum(axis=1, dtype=np.int64)
    return {
        f"{a}_{b}": _near_rows(
            np.asarray(split.get(a, ()), dtype=np.int64),
            np.asarray(split.get(b, ()), dtype=np.int64),
            bits,
            sizes,
            signature,
            threshold,
        )
        for a, b in PAIRS
    }
