"""Every registered model against the shared contract: shapes for each task and length,
importance, MACs, saliency consistency, and that a tiny batch can be fitted by the harness loop.

The models come from the registry (``harness.core.registry.MODELS``), so a new model is tested
as soon as it is registered; ``helpers.CONTRACT_PARAMS`` only adjusts a few of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.core.model import FittedModel, SequenceModel
from harness.core.registry import get_model
from harness.train.fit import fit
from tests.models.helpers import (
    FITTED,
    TORCH,
    build_contract,
    make_info,
    model_kind,
    models_of_kind,
    random_tokens,
    registered_models,
    tiny_config,
    view_of,
)

# 20 is below the 57 positions the valid-convolution stacks need, 64 is above
LENGTHS = (20, 64)
TORCH_MODELS = models_of_kind(TORCH)
FITTED_MODELS = models_of_kind(FITTED)


@pytest.mark.parametrize("name", registered_models())
def test_every_registered_model_honours_one_contract(name: str) -> None:
    """A model is a SequenceModel or a FittedModel, so one of the contract suites covers it."""
    kind = model_kind(name)
    assert kind in (TORCH, FITTED), f"{name}: neither a SequenceModel nor a FittedModel"
    assert name in (TORCH_MODELS if kind == TORCH else FITTED_MODELS)
    model = build_contract(name, make_info("binary", 64))
    assert isinstance(model, SequenceModel if kind == TORCH else FittedModel)
    assert getattr(type(model), "role", None) in (None, "baseline", "reference")


def test_both_kinds_are_registered() -> None:
    assert TORCH_MODELS and FITTED_MODELS


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_output_and_importance_shapes(name: str, task: str, length: int) -> None:
    info = make_info(task, length)
    model = build_contract(name, info)
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
    model = build_contract(name, make_info("binary", 64))
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
    model = build_contract(name, make_info(task, length))
    assert isinstance(model, FittedModel)
    metrics = model.fit(view_of(tokens[:30], labels[:30]), view_of(tokens[30:], labels[30:]))
    assert np.isfinite(metrics["loss"])
    scores = model.predict(tokens[:5])
    assert scores.shape == (5,) and np.isfinite(scores).all()
    imp = model.importance(tokens[:5])
    assert imp.shape == (5, length) and np.isfinite(imp).all() and (imp >= 0).all()
    assert isinstance(model.macs(length), int)


def _fixed_teacher(name: str, info, tmp_path: Path) -> dict[str, str]:
    """``teacher_checkpoint`` params for a model that takes one: the untrained teacher of a fresh
    instance, saved, so the test is about the student (teacher training is tested apart)."""
    if "teacher_checkpoint" not in get_model(name).params.model_fields:
        return {}
    teacher = getattr(build_contract(name, info), "teacher", None)
    if not isinstance(teacher, torch.nn.Module):
        return {}
    path = tmp_path / "teacher.pt"
    torch.save(teacher.state_dict(), path)
    return {"teacher_checkpoint": str(path)}


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_overfits_a_tiny_batch(name: str, binary_data, tmp_path) -> None:
    """16 examples, one batch per epoch: the training loss must fall to a small fraction."""
    train = binary_data.view("train")
    tiny = view_of(train.tokens[:16], train.labels[:16])
    torch.manual_seed(0)  # initial weights independent of which tests ran before
    teacher = _fixed_teacher(name, binary_data.info, tmp_path)
    model = build_contract(name, binary_data.info, **teacher)
    cfg = tiny_config(epochs=150, lr=1e-2)
    result = fit(model, tiny, tiny, cfg, seed=0)
    losses = result.curves["train_loss"]
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])
