"""Enrichment of important positions in the TATA window, and the TSS profile."""

from __future__ import annotations

import numpy as np

from harness.analysis.promoters import promoter_enrichment, tss_profile, window_mask


def test_promoter_tata_window_and_tss_profile():
    rng = np.random.default_rng(0)
    n, length = 40, 80
    tss = rng.integers(40, 60, n)
    tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
    importance = rng.random((n, length))
    window = window_mask(tss, length)
    assert (window.sum(axis=1) == 8).all()
    importance[window] += 3.0
    frame = promoter_enrichment(importance, tokens, tss, q=0.1)
    tata = frame[frame["feature"].str.startswith("TATA window")].iloc[0]
    assert tata["odds_ratio"] > 1 and tata["pvalue"] < 1e-6
    assert frame["feature"].str.contains("MA0108").any()
    profile = tss_profile(importance, tss)
    peak = profile.loc[profile["mean_relative_importance"].idxmax(), "offset"]
    assert -31 <= peak <= -24
