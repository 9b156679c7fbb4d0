"""Training options beside the plain loop: warmup + cosine schedule, reverse-complement
augmentation, device resolution."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from harness.config.study import TrainConfig
from harness.core.dataset import PAD_TOKEN, DatasetInfo, SplitView
from harness.core.errors import UserError
from harness.core.registry import get_model, load_plugins
from harness.train.device import resolve_device
from harness.train.fit import fit, reverse_complement_batch, warmup_cosine


def test_warmup_cosine_rises_linearly_then_decays_to_zero():
    total, warmup = 100, 10
    factors = [warmup_cosine(s, total, warmup) for s in range(total + 1)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in itertools.pairwise(factors[:10]))
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert factors[total] == pytest.approx(0.0, abs=1e-12)


def test_reverse_complement_keeps_padding_on_the_right():
    # ACGTN + 2 PAD -> reverse complement of ACGTN is NACGT; PAD stays at the end
    tokens = torch.tensor([[0, 1, 2, 3, 4, PAD_TOKEN, PAD_TOKEN], [0, 0, 1, 1, 2, 2, 3]])
    out = reverse_complement_batch(tokens, torch.tensor([True, False]))
    assert out[0].tolist() == [4, 0, 1, 2, 3, PAD_TOKEN, PAD_TOKEN]
    assert out[1].tolist() == tokens[1].tolist()  # not flipped
    twice = reverse_complement_batch(out, torch.tensor([True, True]))
    assert twice[0].tolist() == tokens[0].tolist()  # an involution on the valid prefix


def _toy(n: int = 64, length: int = 20) -> tuple[SplitView, SplitView]:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    labels = (tokens == 2).mean(axis=1).astype(np.float32)  # GC-ish content: RC-symmetric-ish
    ids = np.array([str(i) for i in range(n)])
    view = SplitView(tokens, labels, ids)
    return view, view


def _model(length: int = 20):
    load_plugins()
    entry = get_model("gb_cnn")
    return entry.factory(entry.params(), DatasetInfo(length=length, task="regression", n_classes=1))


def test_schedule_logs_the_rate_and_ends_low():
    train, val = _toy()
    cfg = TrainConfig(
        epochs=4, batch_size=16, lr=0.01, patience=0, threads=1, schedule="warmup_cosine"
    )
    result = fit(_model(), train, val, cfg, seed=0)
    lrs = result.curves["lr"]
    assert len(lrs) == 4 and lrs[-1] < 1e-6 < lrs[0] <= 0.01


def test_augmentation_changes_training_but_not_the_batch_order():
    train, val = _toy()
    base = {"epochs": 2, "batch_size": 16, "lr": 0.01, "patience": 0, "threads": 1}
    plain = fit(_model(), train, val, TrainConfig(**base), seed=0).curves["train_loss"]
    again = fit(_model(), train, val, TrainConfig(**base), seed=0).curves["train_loss"]
    rc = fit(_model(), train, val, TrainConfig(**base, reverse_complement=True), seed=0)
    assert plain == again
    assert rc.curves["train_loss"] != plain


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="not on this machine"):
            resolve_device("cuda:0")


def test_unknown_device_names_the_devices_this_machine_has():
    with pytest.raises(UserError, match=r"unknown device 'tpu9' \(valid: auto, cpu"):
        resolve_device("tpu9")
