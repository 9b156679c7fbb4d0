"""Synthetic long-range interaction: an enhancer and a promoter motif, far apart (issue 14).

Every sequence holds the enhancer motif E and the promoter motif P exactly once each (on either
strand); the label says whether they *interact*: both on the same strand, E upstream of P on that
strand, and the start-to-start distance (read on that strand) within ``distance`` +-
``distance_tolerance``. The rule is invariant under reverse-complementing the whole sequence, so
reverse-complement augmentation keeps labels right.

Negatives hold the same two motifs, wrong (three kinds, equally many):

- ``distance``: same strand, E upstream, but the distance at least twice the tolerance away from
  ``distance`` (too close, too far, or P upstream): E's position of one positive-like draw paired
  with P's position of another, so each position alone is distributed exactly as in positives;
- ``promoter_reversed``: a positive layout with P on the other strand;
- ``swapped``: a positive layout with both motifs on the other strand, so that on that strand P
  lies upstream of E.

Positives and negatives are then reverse-complemented as a whole with probability 1/2. So the
position of E alone, of P alone, each motif's strand, and k-mer composition carry no label
information: only the pair does.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, model_validator
from sklearn.metrics import roc_auc_score

from adapters.encoding import encode
from adapters.splits import three_way
from harness.core.dataset import SequenceDataset
from harness.core.errors import UserError
from harness.core.registry import Params, register_adapter

# Hard ceilings, far above any study (a typo such as n: 1.0e+12 is refused at validation).
MAX_N = 10_000_000
MAX_LENGTH = 10_000_000
# Sequences in the one-hot batch of the estimate (as synthetic_motifs: float32, 16 bytes a base).
ONE_HOT_BATCH = 256
# Scrubbing works on blocks of about this many bases, so its temporaries stay small.
CHUNK_CELLS = 1 << 22
# NF-kB (JASPAR MA0105 consensus) and the TATA box (JASPAR MA0108 TBP consensus).
ENHANCER = "GGGACTTTCC"
PROMOTER = "TATAAAAG"
# Wrong-distance negatives lie at least GUARD half-windows away from ``distance``.
GUARD = 2
NEGATIVE_KINDS = ("distance", "promoter_reversed", "swapped")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def revcomp(motif: str) -> str:
    return motif.translate(_COMPLEMENT)[::-1]


class LongRangeMotifsParams(Params):
    n: int = Field(2000, ge=20, le=MAX_N, description="number of sequences")
    length: int = Field(4096, ge=64, le=MAX_LENGTH, description="sequence length")
    distance: int | None = Field(
        None, ge=1, description="start-to-start distance of interacting motifs (default length//2)"
    )
    distance_tolerance: float = Field(
        0.1, ge=0, lt=0.5, description="positives lie within distance * (1 +- this)"
    )
    flip: float = Field(0.05, ge=0, le=0.5, description="probability that a label is flipped")
    enhancer: str = Field(ENHANCER, min_length=4, max_length=32, description="motif E")
    promoter: str = Field(PROMOTER, min_length=4, max_length=32, description="motif P")
    data_seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="seed of the sequences, labels and test split (validation uses the run seed)",
    )
    val_fraction: float = Field(0.15, gt=0, lt=0.5, description="share of sequences in validation")
    test_fraction: float = Field(0.15, gt=0, lt=0.5, description="share of sequences in test")

    @model_validator(mode="after")
    def _check(self) -> LongRangeMotifsParams:
        e, p = self.enhancer, self.promoter
        for name, motif in (("enhancer", e), ("promoter", p)):
            if set(motif) - set("ACGT"):
                raise ValueError(f"{name}: {motif!r} must be over A, C, G, T")
            if motif == revcomp(motif):
                raise ValueError(f"{name}: {motif!r} is its own reverse complement (no strand)")
        for x in (p, revcomp(p)):
            if x in e or e in x:
                raise ValueError("enhancer and promoter must differ (also as reverse complements)")
        d, lo, hi = self.window()
        if lo < len(e) + 1:
            raise ValueError(
                f"distance * (1 - distance_tolerance) = {d * (1 - self.distance_tolerance):g} "
                f"must be at least len(enhancer) + 1 = {len(e) + 1}"
            )
        if hi + len(p) > self.length:
            raise ValueError(
                f"distance * (1 + distance_tolerance) + len(promoter) = {hi + len(p)} exceeds "
                f"length {self.length}; lower distance or distance_tolerance"
            )
        guard = GUARD * max(d - lo, hi - d, 1)
        if 4 * (d + 2 * guard) > 3 * self.length:
            raise ValueError(
                f"distance + {2 * GUARD} * tolerance window = {d + 2 * guard} must be at most 3/4 "
                f"of length {self.length}, to leave room for wrong-distance negatives; lower "
                "distance or distance_tolerance"
            )
        return self

    def window(self) -> tuple[int, int, int]:
        """(distance, lowest, highest) start-to-start distance of a positive."""
        d = self.distance if self.distance is not None else self.length // 2
        lo = max(math.ceil(d * (1 - self.distance_tolerance) - 1e-9), 1)
        hi = math.floor(d * (1 + self.distance_tolerance) + 1e-9)
        return d, lo, hi

    def estimated_bytes(self) -> int:
        """Bytes of memory the dataset needs at its peak, roughly.

        Tokens, ``motif_mask`` and ``motif_id`` are one byte a base; scrubbing works on blocks
        of ``CHUNK_CELLS`` bases (a match and a resample mask, one byte a base each); about 256
        bytes a sequence of layout, label and split arrays; training one-hot encodes a batch of
        ``ONE_HOT_BATCH`` sequences as float32 (16 bytes a base), as for ``synthetic_motifs``.
        """
        cells = self.n * self.length
        scrub = 3 * max(CHUNK_CELLS, self.length)
        batch = min(self.n, ONE_HOT_BATCH) * self.length * 4 * 4
        return 3 * cells + scrub + 256 * self.n + batch


def flip_auroc(flip: float, positive_fraction: float = 0.5) -> float:
    """Expected AUROC of the clean 0/1 rule against labels flipped with probability ``flip``.

    With TPR ``a = P(rule=1 | y=1)`` and FPR ``b = P(rule=1 | y=0)`` a binary score has AUROC
    ``a (1 - b) + (a b + (1 - a)(1 - b)) / 2 = (1 + a - b) / 2`` (ties count a half); for a
    balanced clean set ``a = 1 - f`` and ``b = f``, so the ceiling is ``1 - f``.
    """
    pi, f = positive_fraction, flip
    a = pi * (1 - f) / (pi * (1 - f) + (1 - pi) * f)
    b = pi * f / (pi * f + (1 - pi) * (1 - f))
    return float((1 + a - b) / 2)


def interaction_rule(
    enhancer_start: np.ndarray,
    enhancer_strand: np.ndarray,
    promoter_start: np.ndarray,
    promoter_strand: np.ndarray,
    lengths: tuple[int, int],
    window: tuple[int, int],
) -> np.ndarray:
    """The clean label from the annotations: same strand, E upstream, distance in window.

    Starts are 0-based forward-strand positions of the motifs' first base; strands +1 / -1;
    ``lengths`` = (len E, len P); ``window`` = (lowest, highest) distance. Returns int64 (n,).
    """
    le, lp = lengths
    forward = promoter_start - enhancer_start
    reverse = (enhancer_start + le) - (promoter_start + lp)
    dist = np.where(enhancer_strand > 0, forward, reverse)
    ok = (enhancer_strand == promoter_strand) & (dist >= window[0]) & (dist <= window[1])
    return ok.astype(np.int64)


def _draw_layouts(
    m: int, length: int, lp: int, lo: int, hi: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``m`` positive layouts on the forward strand: E at a, P at a + d, d uniform in [lo, hi]."""
    d = rng.integers(lo, hi + 1, size=m)
    a = (rng.random(m) * (length - lp - d + 1)).astype(np.int64)
    return a, a + d


def _pair_wrong_distance(
    a: np.ndarray, b: np.ndarray, ok, rng: np.random.Generator, fresh
) -> np.ndarray:
    """Re-pair P positions ``b`` with E positions ``a`` so that every pair satisfies ``ok``.

    Pairs are swapped, not redrawn, so the P positions stay the same multiset and each position
    alone keeps the distribution of a positive layout. Random swaps first; the last few bad pairs
    search every partner; a pair with none is redrawn from two fresh layouts (rare: tiny n).
    """
    b = b[rng.permutation(len(b))]
    for _ in range(100):
        bad = ~ok(a, b)
        if bad.sum() <= 64:
            break
        invalid, valid = np.flatnonzero(bad), np.flatnonzero(~bad)
        take = rng.choice(valid, size=min(len(invalid), len(valid)), replace=False)
        pool = rng.permutation(np.concatenate([invalid, take]))
        half = len(pool) // 2
        x, y = pool[:half], pool[half : 2 * half]
        swap = ok(a[x], b[y]) & ok(a[y], b[x])
        x, y = x[swap], y[swap]
        b[x], b[y] = b[y], b[x].copy()
    left = np.flatnonzero(~ok(a, b))
    if len(left) > 10_000:
        raise _no_room()
    for i in left:
        if ok(a[i], b[i]):
            continue
        partners = np.flatnonzero(ok(a[i], b) & ok(a, b[i]))
        if partners.size:
            j = rng.choice(partners)
            b[i], b[j] = b[j], b[i]
            continue
        for _ in range(100):
            a2, _unused = fresh(256)
            b2 = fresh(256)[1]
            good = np.flatnonzero(ok(a2, b2))
            if good.size:
                a[i], b[i] = a2[good[0]], b2[good[0]]
                break
        else:
            raise _no_room()
    return b


def _no_room() -> UserError:
    return UserError(
        "long_range_motifs: could not place wrong-distance negatives; lower distance or "
        "distance_tolerance, or raise length"
    )


def _matches(block: np.ndarray, motif: np.ndarray) -> np.ndarray:
    """bool (rows, L - k + 1): where ``motif`` starts in each row of ``block``."""
    width = block.shape[1] - len(motif) + 1
    hit = block[:, :width] == motif[0]
    for j in range(1, len(motif)):
        hit &= block[:, j : j + width] == motif[j]
    return hit


def scrub(
    tokens: np.ndarray,
    mask: np.ndarray,
    patterns: list[np.ndarray],
    planted: list[np.ndarray],
    rng: np.random.Generator,
) -> None:
    """Resample background bases, in place, until each pattern occurs only where planted.

    ``planted[k]``: int (n,), the start where pattern k is planted in each row, -1 if not.
    Works on row blocks of about ``CHUNK_CELLS`` bases.
    """
    n, length = tokens.shape
    rows = max(1, CHUNK_CELLS // length)
    for r0 in range(0, n, rows):
        block, fixed = tokens[r0 : r0 + rows], mask[r0 : r0 + rows]
        idx = np.arange(len(block))
        for _ in range(200):
            redo = np.zeros(block.shape, dtype=bool)
            found = False
            for motif, starts in zip(patterns, planted, strict=True):
                hit = _matches(block, motif)
                own = starts[r0 : r0 + rows]
                hit[idx[own >= 0], own[own >= 0]] = False
                if hit.any():
                    found = True
                    for j in range(len(motif)):
                        redo[:, j : j + hit.shape[1]] |= hit
            if not found:
                break
            redo &= ~fixed
            if not redo.any():
                raise RuntimeError("a motif occurrence is made of planted bases only")
            block[redo] = rng.integers(0, 4, size=int(redo.sum()), dtype=np.uint8)
        else:
            raise RuntimeError("could not scrub chance motif occurrences in 200 rounds")


def _layout(params: LongRangeMotifsParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per sequence: clean label, negative kind, and both motifs' starts and strands."""
    n, length = params.n, params.length
    le, lp = len(params.enhancer), len(params.promoter)
    d, lo, hi = params.window()
    guard = GUARD * max(d - lo, hi - d, 1)
    n_pos = n // 2
    kind = np.zeros(n, dtype=np.int8)  # 0 positive, 1 + index into NEGATIVE_KINDS
    kind[n_pos:] = 1 + np.arange(n - n_pos) % len(NEGATIVE_KINDS)
    kind = kind[rng.permutation(n)]
    e, p = _draw_layouts(n, length, lp, lo, hi, rng)
    e_strand = np.ones(n, dtype=np.int8)
    p_strand = np.ones(n, dtype=np.int8)
    p_strand[kind == 2] = -1
    e_strand[kind == 3] = -1
    p_strand[kind == 3] = -1

    def ok(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        gap = b - a
        apart = (gap >= le + 1) | (gap <= -(lp + 1))
        return apart & (np.abs(gap - d) > guard)

    def fresh(m: int) -> tuple[np.ndarray, np.ndarray]:
        return _draw_layouts(m, length, lp, lo, hi, rng)

    far = kind == 1
    e_far = e[far]
    p[far] = _pair_wrong_distance(e_far, p[far], ok, rng, fresh)
    e[far] = e_far
    # reverse-complement half of all sequences as a whole
    flipped = rng.random(n) < 0.5
    e = np.where(flipped, length - e - le, e)
    p = np.where(flipped, length - p - lp, p)
    e_strand = np.where(flipped, -e_strand, e_strand).astype(np.int8)
    p_strand = np.where(flipped, -p_strand, p_strand).astype(np.int8)
    clean = interaction_rule(e, e_strand, p, p_strand, (le, lp), (lo, hi))
    if not np.array_equal(clean, (kind == 0).astype(np.int64)):
        raise RuntimeError("long_range_motifs: a layout breaks its own rule")
    return {
        "clean": clean,
        "kind": kind,
        "enhancer_start": e,
        "enhancer_strand": e_strand,
        "promoter_start": p,
        "promoter_strand": p_strand,
    }


def _plant(
    tokens: np.ndarray,
    motif_id: np.ndarray,
    starts: np.ndarray,
    strands: np.ndarray,
    motif: str,
    ident: int,
) -> list[np.ndarray]:
    """Write ``motif`` (or its reverse complement where strand is -1); its per-pattern starts."""
    out = []
    for strand, text in ((1, motif), (-1, revcomp(motif))):
        rows = np.flatnonzero(strands == strand)
        cols = starts[rows, None] + np.arange(len(text))
        tokens[rows[:, None], cols] = encode([text])[0]
        motif_id[rows[:, None], cols] = ident
        out.append(np.where(strands == strand, starts, -1))
    return out


@register_adapter("long_range_motifs", LongRangeMotifsParams)
def load(params: LongRangeMotifsParams, seed: int) -> SequenceDataset:
    """Enhancer and promoter motif in every sequence; label = do they interact (distance, order)."""
    rng = np.random.default_rng(params.data_seed)
    n, length = params.n, params.length
    lay = _layout(params, rng)
    tokens = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    motif_id = np.full((n, length), -1, dtype=np.int8)
    planted = _plant(
        tokens, motif_id, lay["enhancer_start"], lay["enhancer_strand"], params.enhancer, 0
    )
    planted += _plant(
        tokens, motif_id, lay["promoter_start"], lay["promoter_strand"], params.promoter, 1
    )
    mask = motif_id >= 0
    texts = (params.enhancer, revcomp(params.enhancer), params.promoter, revcomp(params.promoter))
    scrub(tokens, mask, [encode([t])[0] for t in texts], planted, rng)
    clean = lay["clean"]
    labels = clean ^ (rng.random(n) < params.flip)
    split = three_way(n, params.val_fraction, params.test_fraction, seed, labels, params.data_seed)
    test = split["test"]
    ceiling = {"accuracy": float(np.mean(clean[test] == labels[test]))}
    if len(np.unique(labels[test])) == 2:
        ceiling["auroc"] = float(roc_auc_score(labels[test], clean[test]))
    d, lo, hi = params.window()
    analytic = flip_auroc(params.flip, float(clean.mean()))
    meta = {
        "source": "long_range_motifs",
        "motifs": [params.enhancer, params.promoter],
        "distance": d,
        "distance_window": [lo, hi],
        "negative_kinds": {
            name: int((lay["kind"] == i + 1).sum()) for i, name in enumerate(NEGATIVE_KINDS)
        },
        "flip": params.flip,
        "noise_ceiling": ceiling,
        "noise_ceiling_analytic": {"auroc": analytic, "accuracy": 1 - params.flip},
        "n_classes": 2,
        "class_names": ["apart", "interacting"],
    }
    return SequenceDataset(
        tokens=tokens,
        labels=labels.astype(np.int64),
        task="binary",
        split=split,
        annotations={
            "motif_mask": mask,
            "motif_id": motif_id,
            "clean_label": clean.astype(np.float32),
            "negative_kind": lay["kind"],
            "enhancer_start": lay["enhancer_start"],
            "enhancer_strand": lay["enhancer_strand"],
            "promoter_start": lay["promoter_start"],
            "promoter_strand": lay["promoter_strand"],
        },
        meta=meta,
    )
