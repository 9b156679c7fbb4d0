"""Masking curves: masking what the model uses must hurt sooner than masking at random."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.dataset import PAD_TOKEN
from harness.train.ablation import (
    ablation_curves,
    curve_area,
    masking_curve,
    masking_order,
    masking_steps,
    value_at,
)

KEY = (3, 7)  # the only positions the toy model reads


def _toy(n: int = 300, length: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
    labels = ((tokens[:, KEY[0]] == 0) | (tokens[:, KEY[1]] == 0)).astype(int)

    def predict(t: np.ndarray) -> np.ndarray:
        # P(class 1) from the two key positions only; a masked key position reads as "not A"
        return np.where((t[:, KEY[0]] == 0) | (t[:, KEY[1]] == 0), 0.9, 0.1)

    importance = rng.random((n, length))
    importance[:, list(KEY)] += 1.0  # a faithful importance ranks the key positions first
    return tokens, labels, importance, predict


def test_high_to_low_drops_faster_than_random():
    tokens, labels, importance, predict = _toy()
    curves = ablation_curves(
        predict, tokens, labels, importance, "binary", steps=[0, 2, 10, 20, 40]
    )
    assert set(curves) == {"n_masked", "high_to_low", "low_to_high", "random"}
    assert curves["n_masked"].tolist() == [0, 2, 10, 20, 40]
    hi, rnd, lo = curves["high_to_low"], curves["random"], curves["low_to_high"]
    assert hi[0] == rnd[0] == lo[0] == 1.0  # nothing masked: the toy model is perfect
    assert hi[1] < 0.7 and rnd[1] > 0.9  # two key positions gone vs two random ones
    assert lo[:4].tolist() == [1.0, 1.0, 1.0, 1.0]  # the key positions are masked last
    assert curve_area(curves["n_masked"], hi) < curve_area(curves["n_masked"], rnd)


def test_each_step_masks_exactly_that_many_positions_with_the_mask_token():
    tokens, labels, importance, _ = _toy(n=20, length=12)
    seen = []

    def spy(t: np.ndarray) -> np.ndarray:
        seen.append((t == 9).sum(axis=1))
        return np.full(len(t), 0.5)

    x, y = masking_curve(
        spy, tokens, labels, importance, "binary", "random", steps=4, seed=1, mask_token=9
    )
    assert x.tolist() == [0, 4, 8, 12]
    # every step's masked copies are scored in one call, step after step
    per_step = np.concatenate(seen).reshape(len(x), 20)
    assert [s.tolist() for s in per_step] == [[m] * 20 for m in x.tolist()]
    assert y.shape == x.shape
    assert tokens.max() < 4  # the input is not modified in place


def test_random_order_depends_on_the_seed_only():
    tokens, labels, importance, predict = _toy(n=100)
    a = masking_curve(predict, tokens, labels, importance, "binary", "random", [0, 5, 10], seed=3)
    b = masking_curve(predict, tokens, labels, importance, "binary", "random", [0, 5, 10], seed=3)
    c = masking_curve(predict, tokens, labels, importance, "binary", "random", [0, 5, 10], seed=4)
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_regression_uses_pearson():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, (200, 20), dtype=np.uint8)
    target = (tokens[:, 5] == 2).astype(float) + rng.normal(0, 0.1, 200)

    def predict(t: np.ndarray) -> np.ndarray:
        return (t[:, 5] == 2).astype(float)

    importance = np.zeros((200, 20))
    importance[:, 5] = 1.0
    _, y = masking_curve(predict, tokens, target, importance, "regression", "high_to_low", [0, 1])
    assert y[0] > 0.9
    assert y[1] == 0.0  # a constant prediction has no correlation
    assert PAD_TOKEN == 5


def test_steps_and_curve_helpers():
    assert masking_steps(200, 5).tolist() == [0, 50, 100, 150, 200]
    assert masking_steps(10, [12, 3, 3, -1]).tolist() == [0, 3, 10]
    with pytest.raises(ValueError, match="unknown order"):
        masking_curve(
            lambda t: np.zeros(len(t)),
            np.zeros((2, 3), np.uint8),
            np.zeros(2),
            np.zeros((2, 3)),
            "binary",
            "sideways",
        )
    assert curve_area([0, 10], [1.0, 0.0]) == pytest.approx(0.5)
    assert value_at([0, 10, 20], [1.0, 0.5, 0.5], 5) == pytest.approx(0.75)
    assert np.isnan(value_at([0, 10], [1.0, 0.5], 11))


def test_ties_are_broken_at_random_not_by_position():
    flat = np.zeros((200, 10))
    first = masking_order(flat, "high_to_low", np.random.default_rng(0))[:, 0]
    assert len(np.unique(first)) == 10  # a flat importance masks like the random order
    again = masking_order(flat, "high_to_low", np.random.default_rng(0))[:, 0]
    assert np.array_equal(first, again)  # seeded: the curve is reproducible
    ranked = masking_order(
        np.array([[0.0, 2.0, 1.0, 2.0]]), "high_to_low", np.random.default_rng(1)
    )
    assert set(ranked[0, :2]) == {1, 3} and ranked[0, 2:].tolist() == [2, 0]
