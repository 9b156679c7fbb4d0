"""Synthetic DNA with planted regulatory motifs (sparse-attention seed paper, §3.2)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, model_validator
from scipy import stats
from sklearn.metrics import roc_auc_score

from adapters.encoding import encode
from adapters.splits import three_way
from harness.core.dataset import SequenceDataset
from harness.core.registry import Params, register_adapter

SEED_MOTIFS = {"TATAAA": 0.8, "CAAT": 0.6, "GGGCGG": 0.7, "TTGACA": 0.5, "TATAAT": 0.6}
# Hard ceilings, far above any study here: a typo such as n: 1.0e+12 is refused when the study
# is validated, not after minutes of generation; what fits in memory is estimated_bytes' job.
MAX_N = 10_000_000
MAX_LENGTH = 10_000_000
# Sequences in the one-hot batch of the estimate (batch_size is a train setting, not ours).
ONE_HOT_BATCH = 256


class SyntheticMotifsParams(Params):
    n: int = Field(2000, ge=20, le=MAX_N, description="number of sequences")
    length: int = Field(200, ge=8, le=MAX_LENGTH, description="sequence length")
    motifs: dict[str, float] = Field(
        default_factory=lambda: dict(SEED_MOTIFS), description="motif -> regulatory strength"
    )
    min_motifs: int = Field(0, ge=0, description="fewest motifs planted in a sequence")
    max_motifs: int = Field(
        4, ge=0, description="most motifs planted in a sequence (count uniform in min..max)"
    )
    combine: Literal["saturating", "sum_clip", "mean"] = Field(
        "saturating",
        description="how strengths add up: 1-prod(1-s), min(1, sum s), or mean s (0 if none)",
    )
    noise_sd: float = Field(0.1, ge=0, description="sd of Gaussian label noise")
    target: Literal["regression", "binary"] = Field(
        "regression", description="label: the noisy strength, or 1 where it exceeds threshold"
    )
    threshold: float = Field(0.5, description="binary label = noisy strength > threshold")
    scrub_background: bool = Field(
        True, description="remove chance motif occurrences so the planted mask is the whole truth"
    )
    data_seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="seed of the sequences, labels and test split (validation uses the run seed)",
    )
    val_fraction: float = Field(0.15, gt=0, lt=0.5, description="share of sequences in validation")
    test_fraction: float = Field(0.15, gt=0, lt=0.5, description="share of sequences in test")

    @model_validator(mode="after")
    def _check(self) -> SyntheticMotifsParams:
        if self.max_motifs < self.min_motifs:
            raise ValueError("max_motifs must be >= min_motifs")
        if not self.motifs:
            raise ValueError("motifs: give at least one motif")
        for motif, strength in self.motifs.items():
            if set(motif) - set("ACGT"):
                raise ValueError(f"motifs: {motif!r} must be over A, C, G, T")
            if not 0 <= strength <= 1:
                raise ValueError(f"motifs: strength of {motif!r} must be in [0, 1]")
        longest = max(len(m) for m in self.motifs)
        if self.max_motifs * (longest + 1) > self.length:
            raise ValueError("length too short to hold max_motifs non-overlapping motifs")
        return self

    def estimated_bytes(self) -> int:
        """Bytes of memory the dataset needs at its peak, roughly.

        Generation holds five ``n x length`` byte arrays (tokens, motif ids, the scrubbed copy,
        the planted and hit masks) and, per motif, ``motif length + 5`` more of comparison
        temporaries; the finished dataset keeps tokens, ``motif_id`` and ``motif_mask`` (fewer
        than that) and three per-sequence label arrays; training one-hot encodes a batch of
        ``ONE_HOT_BATCH`` sequences as float32 (16 bytes a base).
        """
        cells = self.n * self.length
        longest = max(len(m) for m in self.motifs)
        generation = cells * (10 + longest)
        labels = self.n * (4 + 8 + 8)  # clean_label float32; noisy float64; labels
        batch = min(self.n, ONE_HOT_BATCH) * self.length * 4 * 4
        return generation + labels + batch


def combine_strengths(strengths: list[float], how: str) -> float:
    """Noiseless regulatory strength in [0, 1] of one sequence's planted motifs."""
    if not strengths:
        return 0.0
    s = np.asarray(strengths)
    if how == "saturating":
        return float(1 - np.prod(1 - s))
    if how == "sum_clip":
        return float(min(1.0, s.sum()))
    return float(s.mean())


def plant_motifs(
    n: int,
    length: int,
    motifs: list[str],
    min_motifs: int,
    max_motifs: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Random background with non-overlapping planted motifs.

    Returns
    -------
    tokens : uint8 (n, length)
    motif_id : int8 (n, length), index into ``motifs`` at planted positions, -1 elsewhere
    planted : per sequence, the list of planted motif indices
    """
    tokens = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    motif_id = np.full((n, length), -1, dtype=np.int8)
    encoded = [encode([m])[0] for m in motifs]
    planted: list[list[int]] = []
    for i in range(n):
        chosen = rng.integers(0, len(motifs), size=rng.integers(min_motifs, max_motifs + 1))
        taken = np.zeros(length + 1, dtype=bool)
        for j in chosen:
            m = encoded[j]
            for _ in range(1000):
                start = int(rng.integers(0, length - len(m) + 1))
                # one free base on each side keeps planted motifs from fusing into new ones
                lo, hi = max(start - 1, 0), min(start + len(m) + 1, length)
                if not taken[lo:hi].any():
                    break
            tokens[i, start : start + len(m)] = m
            motif_id[i, start : start + len(m)] = j
            taken[start : start + len(m)] = True
        planted.append([int(j) for j in chosen])
    return tokens, motif_id, planted


def scrub_chance_motifs(
    tokens: np.ndarray, motif_id: np.ndarray, motifs: list[str], rng: np.random.Generator
) -> np.ndarray:
    """Resample background bases until no motif occurs outside the planted positions.

    Parameters
    ----------
    tokens : uint8 (n, L); motif_id : int8 (n, L), -1 where not planted

    Returns
    -------
    uint8 (n, L), a copy with chance occurrences removed
    """
    tokens = tokens.copy()
    planted = motif_id >= 0
    encoded = [encode([m])[0] for m in motifs]
    for _ in range(200):
        hits = np.zeros_like(planted)
        for j, m in enumerate(encoded):
            windows = sliding_window_view(tokens, len(m), axis=1)
            match = (windows == m).all(axis=-1)
            exact_plant = sliding_window_view(motif_id == j, len(m), axis=1).all(axis=-1)
            for row, start in zip(*np.nonzero(match & ~exact_plant), strict=True):
                hits[row, start : start + len(m)] = True
        hits &= ~planted
        if not hits.any():
            return tokens
        tokens[hits] = rng.integers(0, 4, size=int(hits.sum()), dtype=np.uint8)
    raise RuntimeError("could not scrub chance motif occurrences in 200 rounds")


def noise_ceiling(
    target: str, clean: np.ndarray, labels: np.ndarray, threshold: float
) -> dict[str, float]:
    """How well the noiseless strength predicts the noisy labels: no model can beat this."""
    if target == "regression":
        if np.ptp(clean) == 0 or np.ptp(labels) == 0:
            return {"pearson": 0.0}
        return {"pearson": float(stats.pearsonr(clean, labels)[0])}
    out = {"accuracy": float(np.mean((clean > threshold) == labels))}
    if len(np.unique(labels)) == 2:
        out["auroc"] = float(roc_auc_score(labels, clean))
    return out


@register_adapter("synthetic_motifs", SyntheticMotifsParams)
def load(params: SyntheticMotifsParams, seed: int) -> SequenceDataset:
    """Random DNA with 0-4 planted motifs; label = regulatory strength (+ noise) or thresholded."""
    rng = np.random.default_rng(params.data_seed)
    motifs = list(params.motifs)
    tokens, motif_id, planted = plant_motifs(
        params.n, params.length, motifs, params.min_motifs, params.max_motifs, rng
    )
    if params.scrub_background:
        tokens = scrub_chance_motifs(tokens, motif_id, motifs, rng)
    strengths = [params.motifs[m] for m in motifs]
    clean = np.array(
        [combine_strengths([strengths[j] for j in p], params.combine) for p in planted]
    )
    noisy = np.clip(clean + rng.normal(0, params.noise_sd, size=params.n), 0, 1)
    if params.target == "regression":
        labels = noisy.astype(np.float32)
    else:
        labels = (noisy > params.threshold).astype(np.int64)
    stratify = labels if params.target == "binary" else None
    split = three_way(
        params.n, params.val_fraction, params.test_fraction, seed, stratify, params.data_seed
    )
    test = split["test"]
    meta = {
        "source": "synthetic_motifs",
        "motifs": motifs,
        "motif_strengths": strengths,
        "noise_ceiling": noise_ceiling(params.target, clean[test], labels[test], params.threshold),
        "n_classes": 2 if params.target == "binary" else 1,
        "class_names": ["low", "high"] if params.target == "binary" else [],
    }
    return SequenceDataset(
        tokens=tokens,
        labels=labels,
        task=params.target,
        split=split,
        annotations={
            "motif_mask": motif_id >= 0,
            "motif_id": motif_id,
            "clean_label": clean.astype(np.float32),
        },
        meta=meta,
    )
