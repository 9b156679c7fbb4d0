"""Deterministic train/val/test splits. Validation is always carved from train."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from harness.core.errors import UserError


def carve(
    indices: np.ndarray,
    fraction: float,
    seed: int,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (rest, carved) with ``fraction`` of them carved out.

    Stratified by ``stratify`` (labels aligned with ``indices``) when given. Both outputs sorted.
    """
    if not 0 < fraction < 1:
        raise UserError(f"split fraction must be in (0, 1), got {fraction}")
    if len(indices) < 2:
        raise UserError(f"cannot split {len(indices)} example(s)")
    try:
        rest, carved = train_test_split(
            indices, test_size=fraction, random_state=seed, stratify=stratify
        )
    except ValueError:
        # Too few members in some class to stratify: fall back to a plain random split.
        rest, carved = train_test_split(indices, test_size=fraction, random_state=seed)
    return np.sort(rest), np.sort(carved)


def three_way(
    n: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: np.ndarray | None = None,
    test_seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random train/val/test split of ``n`` examples (for sources without an official test).

    The test split is drawn with ``test_seed``, fixed across run seeds, and validation with the run
    ``seed``: a search tuned on one seed's validation split then never sees another seed's test
    examples, and every seed is scored on the same test examples (paired comparisons).
    """
    idx = np.arange(n)
    rest, test = carve(idx, test_fraction, test_seed, stratify)
    strat_rest = stratify[rest] if stratify is not None else None
    train, val = carve(rest, val_fraction / (1 - test_fraction), seed + 1, strat_rest)
    return {"train": train, "val": val, "test": test}
