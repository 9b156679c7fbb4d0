"""The trainer: it learns, it is deterministic, and it restores the best validation epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.config.study import TrainConfig
from harness.core.dataset import DatasetInfo, SplitView
from harness.core.errors import UserError
from harness.core.metrics import choose_threshold
from harness.core.model import SequenceModel, predict
from harness.train.fit import _evaluate, fit


class TinyModel(SequenceModel):
    def __init__(self, info: DatasetInfo) -> None:
        super().__init__(info)
        self.embedding = nn.Embedding(info.vocab_size, 8)
        self.out = nn.Linear(8 * info.length, info.n_outputs)

    def embed(self, tokens):
        return self.embedding(tokens)

    def head(self, embedded, tokens):
        return self.out(embedded.flatten(1)).squeeze(-1)

    def forward(self, tokens):
        return self.head(self.embed(tokens), tokens)

    def macs(self, length: int) -> int:
        return 8 * length


def views(task: str, n: int = 32, length: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    if task == "binary":
        labels = (tokens[:, 3] == 2).astype(np.int64)
    else:
        labels = (tokens[:, 3] == 2).astype(np.float32) * 0.8 + 0.1
    ids = np.array([str(i) for i in range(n)])
    view = SplitView(tokens, labels, ids)
    return view, DatasetInfo(length=length, task=task, n_classes=2 if task == "binary" else 1)


def test_overfits_a_tiny_batch_binary_and_regression():
    for task in ("binary", "regression"):
        train, info = views(task)
        model = TinyModel(info)
        cfg = TrainConfig(epochs=60, batch_size=8, lr=0.01, patience=0)
        result = fit(model, train, train, cfg, seed=0)
        losses = result.curves["train_loss"]
        assert losses[-1] < 0.1 * losses[0], (task, losses[0], losses[-1])


def test_same_seed_same_model():
    train, info = views("binary")
    cfg = TrainConfig(epochs=3, batch_size=8)
    torch.manual_seed(7)
    a = TinyModel(info)
    torch.manual_seed(7)
    b = TinyModel(info)
    fit(a, train, train, cfg, seed=7)
    fit(b, train, train, cfg, seed=7)
    np.testing.assert_array_equal(predict(a, train.tokens), predict(b, train.tokens))


def _overfitting_fit():
    """A tiny model fitted until early stopping, against validation labels shuffled so that
    validation loss gets worse as training fits train: (model, val, cfg, result)."""
    train, info = views("binary", n=64)
    val, _ = views("binary", n=64, seed=1)
    val = SplitView(val.tokens, np.random.default_rng(0).permutation(val.labels), val.ids)
    model = TinyModel(info)
    cfg = TrainConfig(epochs=40, batch_size=8, lr=0.05, patience=3, monitor="loss")
    return model, val, cfg, fit(model, train, val, cfg, seed=0)


def test_best_epoch_is_restored_and_early_stopping_stops():
    model, val, cfg, result = _overfitting_fit()
    assert result.epochs_run < 40
    assert result.epochs_run == result.best_epoch + 3
    best = min(result.curves["val_loss"])
    assert result.best_value == best
    assert np.isclose(_evaluate(model, val, cfg)[0]["loss"], best, rtol=1e-5)


def test_unknown_monitor_is_a_user_error():
    train, info = views("regression")
    with pytest.raises(UserError, match=r"train\.monitor: 'auroc' is not a regression"):
        fit(TinyModel(info), train, train, TrainConfig(epochs=1, monitor="auroc"), seed=0)


def test_best_val_and_threshold_come_from_the_kept_epoch():
    model, val, _, result = _overfitting_fit()
    best = result.best_val
    assert best["best_val_loss"] == result.best_value
    assert set(best) == {f"best_{k}" for k in result.curves if k.startswith("val_")}
    assert best["best_val_auroc"] == result.curves["val_auroc"][result.best_epoch - 1]
    # the threshold is the one choose_threshold picks on the restored model's validation scores
    expected = choose_threshold(val.labels, predict(model, val.tokens))
    assert np.isclose(result.decision_threshold, expected, rtol=0, atol=1e-6)


def test_threshold_only_for_binary():
    train, info = views("regression")
    result = fit(TinyModel(info), train, train, TrainConfig(epochs=2), seed=0)
    assert np.isnan(result.decision_threshold) and "best_val_mse" in result.best_val
