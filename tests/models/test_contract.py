"""Every model against the shared contract: shapes for each task and length, importance,
MACs, saliency consistency, and that a tiny batch can be fitted by the harness loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core.model import FittedModel, SequenceModel
from harness.train.fit import fit
from tests.models.helpers import (
    FITTED_MODELS,
    TEACHER_MODELS,
    TORCH_MODELS,
    build,
    make_info,
    random_tokens,
    tiny_config,
    view_of,
)

# 20 is below the 57 positions the valid-convolution stacks need, 64 is above
LENGTHS = (20, 64)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_output_and_importance_shapes(name: str, task: str, length: int) -> None:
    info = make_info(task, length)
    model = build(name, info)
    assert isinstance(model, SequenceModel)
    x = random_tokens(3, length)
    model.eval()
    out = model(x)
    expected = (3, 3) if task == "multiclass" else (3,)
    assert out.shape == expected
    assert torch.isfinite(out).all()
    imp = model.importance(x)
    assert imp.shape == (3, length)
    assert torch.isfinite(imp).all() and (imp >= 0).all()
    assert isinstance(model.macs(length), int) and model.macs(length) > 0
    assert model.n_params > 0


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_forward_equals_head_of_embed(name: str) -> None:
    """Gradient saliency is only meaningful if ``forward(t) == head(embed(t), t)``."""
    model = build(name, make_info("binary", 64))
    model.eval()
    x = random_tokens(4, 64, seed=1)
    torch.testing.assert_close(model(x), model.head(model.embed(x), x))
    saliency = SequenceModel.importance(model, x)
    assert saliency.shape == (4, 64) and torch.isfinite(saliency).all()


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("task", ["binary", "regression"])
@pytest.mark.parametrize("name", FITTED_MODELS)
def test_fitted_shapes(name: str, task: str, length: int) -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, size=(40, length)).astype(np.uint8)
    labels = rng.integers(0, 2, size=40) if task == "binary" else rng.normal(size=40)
    model = build(name, make_info(task, length), **({"k": 3} if name == "kmer_logreg" else {}))
    assert isinstance(model, FittedModel)
    metrics = model.fit(view_of(tokens[:30], labels[:30]), view_of(tokens[30:], labels[30:]))
    assert np.isfinite(metrics["loss"])
    scores = model.predict(tokens[:5])
    assert scores.shape == (5,) and np.isfinite(scores).all()
    imp = model.importance(tokens[:5])
    assert imp.shape == (5, length) and np.isfinite(imp).all() and (imp >= 0).all()
    assert isinstance(model.macs(length), int)


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_overfits_a_tiny_batch(name: str, binary_data, tmp_path) -> None:
    """16 examples, one batch per epoch: the training loss must fall to a small fraction."""
    train = binary_data.view("train")
    tiny = view_of(train.tokens[:16], train.labels[:16])
    params = {}
    if name in TEACHER_MODELS:
        # a fixed teacher keeps this test about the student (teacher training is tested apart)
        path = tmp_path / "teacher.pt"
        torch.save(build("attention", binary_data.info).state_dict(), path)
        params["teacher_checkpoint"] = str(path)
    model = build(name, binary_data.info, **params)
    cfg = tiny_config(epochs=150, lr=1e-2)
    result = fit(model, tiny, tiny, cfg, seed=0)
    losses = result.curves["train_loss"]
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])
