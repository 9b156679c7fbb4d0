"""Calibration of the enrichment nulls: each controls its confounder, and a real signal is found.

Each scenario simulates :data:`SIMS` independent studies (sequences, a feature mask, an importance
with no real enrichment) and counts how often a null rejects at :data:`ALPHA`. A null must keep
the false-positive rate within ``ALPHA + 0.02`` for the confounder it is meant to control; a
planted signal of realistic size must be detected with power >= 0.8 by both (a test that never
rejects fails this).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.importance_masks import topk_mask
from harness.analysis.nulls import (
    composition_null,
    monte_carlo_pvalue,
    null_pvalues,
    seed_mean_importance,
    shift_overlaps,
    spans,
    spatial_null,
)

ALPHA = 0.05
SIMS = 400
N_PERM = 100
N, L, WIDTH, TOP = 60, 100, 8, 10  # sequences, length, feature width, top positions selected


def _smooth(x: np.ndarray, width: int = 10) -> np.ndarray:
    """Circular moving average along each row: spatially autocorrelated noise."""
    c = np.cumsum(np.pad(x, ((0, 0), (width, 0)), mode="wrap"), axis=1)
    return (c[:, width:] - c[:, :-width]) / width


def _scenario(kind: str, rng: np.random.Generator) -> dict[str, float]:
    tokens = rng.integers(0, 4, (N, L)).astype(np.uint8)
    feature = np.zeros((N, L), dtype=bool)
    if kind == "at_bias":
        # a TATA-like window: fixed place, 80% A/T, where real promoters are AT-rich
        feature[:, 40 : 40 + WIDTH] = True
        at = rng.choice(np.array([0, 3], dtype=np.uint8), (N, WIDTH))
        tokens[:, 40 : 40 + WIDTH] = np.where(rng.random((N, WIDTH)) < 0.8, at, tokens[:, 40:48])
    else:  # a planted motif at a random place in each sequence
        start = rng.integers(0, L - WIDTH, N)
        feature[np.arange(N)[:, None], start[:, None] + np.arange(WIDTH)] = True
    noise = rng.normal(size=(N, L))
    importance = {
        "iid": noise,
        "smooth": _smooth(noise),
        "at_bias": noise + 0.5 * np.isin(tokens, [0, 3]),  # prefers A/T, ignores the window
        "signal": _smooth(noise) + 0.15 * feature,  # ~0.5 SD of the smoothed noise
    }[kind]
    selected = topk_mask(importance, TOP)
    return null_pvalues(selected, feature, tokens, N_PERM, int(rng.integers(2**31)))


@pytest.fixture(scope="module")
def rejection_rates() -> dict[str, dict[str, float]]:
    out = {}
    for i, kind in enumerate(("iid", "smooth", "at_bias", "signal")):
        rng = np.random.default_rng(100 + i)
        ps = [_scenario(kind, rng) for _ in range(SIMS)]
        out[kind] = {
            null: float(np.mean([p[f"p_{null}"] <= ALPHA for p in ps]))
            for null in ("composition", "spatial")
        }
        # the report's rule: enriched only where both nulls reject
        both = [p["p_composition"] <= ALPHA and p["p_spatial"] <= ALPHA for p in ps]
        out[kind]["both"] = float(np.mean(both))
    return out


@pytest.mark.parametrize("kind", ["iid", "smooth", "at_bias"])
def test_the_reports_rule_controls_every_confounder(rejection_rates, kind):
    """Enriched = both p-values small: its false-positive rate stays within alpha + 0.02 for
    random, smoothed-random and base-preferring importance alike."""
    assert rejection_rates[kind]["both"] <= ALPHA + 0.02


def test_the_reports_rule_keeps_its_power(rejection_rates):
    assert rejection_rates["signal"]["both"] >= 0.8


def test_random_importance_false_positive_rate(rejection_rates):
    # i.i.d. random importance: both nulls hold their level
    assert rejection_rates["iid"]["composition"] <= ALPHA + 0.02
    assert rejection_rates["iid"]["spatial"] <= ALPHA + 0.02


def test_smoothed_random_importance_is_controlled_by_the_spatial_null(rejection_rates):
    assert rejection_rates["smooth"]["spatial"] <= ALPHA + 0.02
    # why the spatial null is needed: exchanging positions ignores autocorrelation
    assert rejection_rates["smooth"]["composition"] > 2 * ALPHA


def test_base_preference_is_controlled_by_the_composition_null(rejection_rates):
    assert rejection_rates["at_bias"]["composition"] <= ALPHA + 0.02
    # why the composition null is needed: an A/T preference "finds" an AT-rich window
    assert rejection_rates["at_bias"]["spatial"] > 0.5


def test_a_planted_signal_is_detected_by_both(rejection_rates):
    assert rejection_rates["signal"]["composition"] >= 0.8
    assert rejection_rates["signal"]["spatial"] >= 0.8


def test_shift_overlaps_is_the_circular_cross_correlation():
    rng = np.random.default_rng(0)
    sel, feat = rng.random((3, 20)) < 0.3, rng.random((3, 20)) < 0.3
    table = shift_overlaps(sel, feat, 20)
    expected = [[np.sum(feat[i] & np.roll(sel[i], -s)) for s in range(20)] for i in range(3)]
    assert table.tolist() == expected


def test_nulls_keep_counts_and_respect_padding():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, (4, 30)).astype(np.uint8)
    tokens[:, 20:] = 5  # PAD tail
    valid = tokens < 4
    assert spans(valid).tolist() == [20] * 4
    sel = topk_mask(rng.random((4, 30)), 3, valid)
    feat = np.zeros((4, 30), dtype=bool)
    feat[:, 5:9] = True
    comp = composition_null(sel, feat, tokens, 50, rng)
    shift = spatial_null(sel, feat, valid, 50, rng)
    assert comp.max() <= 12 and shift.max() <= 12  # never more than the 3 x 4 selected
    # every selected position is of one class and the feature covers that class: fixed count
    same = np.zeros((1, 10), dtype=np.uint8)
    assert set(composition_null(same < 1, same < 1, same, 5, rng)) == {10}
    assert monte_carlo_pvalue(3, np.array([1, 2, 3, 4])) == pytest.approx(3 / 5)


def test_seed_mean_is_of_within_sequence_ranks():
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[300.0, 200.0, 100.0]])  # another scale, the opposite order
    assert seed_mean_importance([a, b]).tolist() == [[2 / 3, 2 / 3, 2 / 3]]
