"""Masking curves scored in one batched pass equal the step-by-step curves they replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import harness.train.ablation as ablation
from harness.core.dataset import DatasetInfo
from harness.core.metrics import compute_metrics
from harness.core.model import predict
from harness.core.registry import get_model, load_plugins
from harness.train.ablation import (
    ORDERS,
    ablation_curves,
    curve_metric_name,
    masking_order,
    masking_steps,
)
from harness.train.evaluate import compute_importance


def stepwise_curves(predict_fn, tokens, labels, importance, task, steps, seed):
    """The curves as computed before batching: one prediction per order and step."""
    n_masked = masking_steps(tokens.shape[1], steps)
    rows = np.arange(len(tokens))[:, None]
    out = {"n_masked": n_masked}
    for order in ORDERS:
        ranked = masking_order(importance, order, np.random.default_rng(seed))
        masked, done, values = tokens.copy(), 0, []
        for m in n_masked:
            masked[rows, ranked[:, done:m]] = 5
            done = m
            values.append(
                compute_metrics(task, labels, predict_fn(masked))[curve_metric_name(task)]
            )
        out[order] = np.asarray(values)
    return out


@pytest.fixture(scope="module")
def cnn():
    """An untrained registered torch model (random weights: scores vary with every position)."""
    load_plugins()
    entry = get_model("gb_cnn")
    torch.manual_seed(0)
    info = DatasetInfo(task="regression", length=40, n_classes=1)
    return entry.factory(entry.params.model_validate({}), info)


@pytest.mark.parametrize("limit", [None, 40 * 30])  # one call / one call per step
def test_batched_curves_equal_the_stepwise_ones(cnn, monkeypatch, limit):
    if limit is not None:
        monkeypatch.setattr(ablation, "MAX_BATCHED_TOKENS", limit)
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 4, (30, 40), dtype=np.uint8)
    labels = rng.normal(size=30)
    importance = compute_importance(cnn, tokens)
    calls = []

    def score(t: np.ndarray) -> np.ndarray:
        calls.append(len(t))
        return predict(cnn, t)

    # not every position masked: all-PAD rows score the same up to float32 rounding, whose
    # Pearson correlation is noise (batched or not)
    steps = [0, 8, 16, 24, 32, 36]
    batched = ablation_curves(score, tokens, labels, importance, "regression", steps, seed=3)
    n_calls = len(calls)
    reference = stepwise_curves(
        lambda t: predict(cnn, t), tokens, labels, importance, "regression", steps, 3
    )
    assert set(batched) == set(reference)
    np.testing.assert_array_equal(batched["n_masked"], reference["n_masked"])
    for order in ORDERS:
        # float32 scores of the same rows in other batches: equal to rounding
        np.testing.assert_allclose(batched[order], reference[order], rtol=1e-4, atol=1e-6)
    # 1 shared unmasked copy + 3 orders x 5 masked steps, 30 rows each
    assert sum(calls) == 16 * 30
    assert n_calls == (1 if limit is None else 16)


def test_binary_curves_and_the_input_left_alone():
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 4, (50, 12), dtype=np.uint8)
    kept = tokens.copy()
    labels = (tokens[:, 3] == 0).astype(int)
    importance = rng.random((50, 12))

    def score(t: np.ndarray) -> np.ndarray:
        return np.where(t[:, 3] == 0, 0.8, 0.3) + 0.01 * (t[:, 7] == 5)

    batched = ablation_curves(score, tokens, labels, importance, "binary", steps=[0, 3, 12])
    reference = stepwise_curves(score, tokens, labels, importance, "binary", [0, 3, 12], 0)
    for order in ORDERS:
        np.testing.assert_array_equal(batched[order], reference[order])
    np.testing.assert_array_equal(tokens, kept)
