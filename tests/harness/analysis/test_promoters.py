"""Enrichment of important positions in the TATA window, and the TSS profile."""

from __future__ import annotations

import numpy as np

from harness.analysis.promoters import (
    positive_rows,
    promoter_enrichment,
    tss_profile,
    window_mask,
)


def test_promoter_tata_window_and_tss_profile():
    rng = np.random.default_rng(0)
    n, length = 40, 80
    tss = rng.integers(40, 60, n)
    tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
    importance = rng.random((n, length))
    window = window_mask(tss, length)
    assert (window.sum(axis=1) == 8).all()
    importance[window] += 3.0
    frame = promoter_enrichment(importance, tokens, tss, q=0.1, n_perm=200)
    tata = frame[frame["feature"].str.startswith("TATA window")].iloc[0]
    assert tata["odds_ratio"] > 1 and tata["p_composition"] < 0.01 and tata["p_spatial"] < 0.01
    assert frame["feature"].str.contains("MA0108").any()
    profile = tss_profile(importance, tss)
    peak = profile.loc[profile["mean_relative_importance"].idxmax(), "offset"]
    assert -31 <= peak <= -24


def test_tata_window_is_marked_on_positive_sequences_only():
    rng = np.random.default_rng(1)
    n, length = 40, 80
    tss = np.full(n, 60)
    labels = np.repeat([0, 1], n // 2)
    tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
    importance = rng.random((n, length))
    importance[labels == 0, 29:37] += 3.0  # "TATA" importance on negatives: not a TATA box
    positive = positive_rows(labels, "binary")
    assert positive.tolist() == (labels == 1).tolist()
    assert positive_rows(labels.astype(float), "regression").all()
    frame = promoter_enrichment(importance, tokens, tss, with_tss=positive, n_perm=200)
    tata = frame[frame["feature"].str.startswith("TATA window")].iloc[0]
    assert tata["positions"] == (n // 2) * 8
    assert tata["p_composition"] > 0.05 and tata["p_spatial"] > 0.05
