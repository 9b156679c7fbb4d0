"""Top-k masks and the high- vs low-importance rates."""

from __future__ import annotations

import numpy as np

from harness.analysis.importance_masks import high_low_rates, topk_mask


def test_topk_mask_variable_k_and_valid_positions():
    imp = np.array([[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]])
    out = topk_mask(imp, np.array([2, 1]))
    assert out.tolist() == [[False, True, False, True], [True, False, False, False]]
    valid = np.array([[True, False, True, True], [True, True, True, True]])
    assert topk_mask(imp, 1, valid)[0].tolist() == [False, False, False, True]


def test_high_low_rates_direction():
    rng = np.random.default_rng(0)
    feature = rng.random((50, 40)) < 0.2
    up = high_low_rates(feature + rng.normal(0, 0.1, feature.shape), feature, q=0.1)
    down = high_low_rates(
        -feature.astype(float) + rng.normal(0, 0.1, feature.shape), feature, q=0.1
    )
    assert up["odds_ratio"] > 1 and up["high_rate"] > up["low_rate"]
    assert down["odds_ratio"] < 1 and down["high_rate"] < down["low_rate"]
    assert up["high_n"] == up["low_n"] == 50 * 4
