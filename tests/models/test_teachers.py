"""Teacher-guided sparse models: distillation fidelity, frozen teachers, guidance schedule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.train.fit import fit
from models.teacher_student import TeacherStudentParams, guidance_weight, teacher_quality
from tests.models.helpers import build, make_info, tiny_config


@pytest.fixture
def teacher_checkpoint(tmp_path, binary_data) -> str:
    """A fixed (untrained) attention teacher saved as a state dict."""
    torch.manual_seed(123)
    teacher = build("attention", binary_data.info)
    path = tmp_path / "teacher.pt"
    torch.save(teacher.state_dict(), path)
    return str(path)


def test_distillation_improves_fidelity(binary_data, teacher_checkpoint) -> None:
    train, val = binary_data.view("train"), binary_data.view("val")
    model = build(
        "sparse_distilled",
        binary_data.info,
        teacher_checkpoint=teacher_checkpoint,
        distill_weight=10.0,
    )
    model.prepare(train, val, context=None)
    before = model.evaluation_metrics(val)
    fit(model, train, val, tiny_config(epochs=8, lr=1e-2, monitor="loss"), seed=0)
    after = model.evaluation_metrics(val)
    assert set(after) == {"fidelity_r2", "fidelity_cosine"}
    assert after["fidelity_r2"] > before["fidelity_r2"] + 0.2
    assert after["fidelity_cosine"] > before["fidelity_cosine"]


def test_teacher_is_loaded_frozen_and_not_counted(binary_data, teacher_checkpoint) -> None:
    train, val = binary_data.view("train"), binary_data.view("val")
    model = build("sparse_distilled", binary_data.info, teacher_checkpoint=teacher_checkpoint)
    student_only = build("sparse_attention", binary_data.info)
    assert model.n_params == student_only.n_params
    fit(model, train, val, tiny_config(epochs=2), seed=0)
    saved = torch.load(teacher_checkpoint, weights_only=True)
    for name, value in model.teacher.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert not model.teacher.training


def test_prepare_trains_the_teacher_with_the_harness_loop(binary_data) -> None:
    train, val = binary_data.view("train"), binary_data.view("val")
    model = build("sparse_distilled", binary_data.info)
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    result = fit(model, train, val, tiny_config(epochs=2), seed=0)
    assert "teacher_best_val" in result.prepare_metrics
    assert any(not torch.equal(before[k], v) for k, v in model.teacher.state_dict().items())
    assert all(not p.requires_grad for p in model.teacher.parameters())


def test_task_weight_is_applied(binary_data) -> None:
    model = build("sparse_distilled", binary_data.info, task_weight=3.0, distill_weight=0.0)
    x = torch.tensor(binary_data.tokens[:8], dtype=torch.long)
    y = torch.tensor(binary_data.labels[:8])
    out = model(x)
    extras = model.extra_loss(x, out, y)
    base = torch.nn.functional.binary_cross_entropy_with_logits(out, y.float())
    torch.testing.assert_close(extras["task_scale"], 2.0 * base)
    assert extras["distill"].item() == 0.0


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("n_epochs", [1, 2, 7, 300])
def test_guidance_schedule_monotone_and_non_negative(schedule: str, n_epochs: int) -> None:
    info = make_info("binary", 40)
    model = build("teacher_student", info, schedule=schedule)
    weights = [model.on_epoch_start(e, n_epochs)["guidance_weight"] for e in range(1, n_epochs + 1)]
    assert all(w >= 0 for w in weights)
    assert all(b <= a for a, b in itertools.pairwise(weights))
    assert weights[0] == pytest.approx(0.77)
    if n_epochs > 1:
        assert weights[-1] == pytest.approx(0.01)


def test_guidance_weight_clamped_and_validated() -> None:
    assert guidance_weight(5, 5, 0.3, 0.0) == 0.0
    assert guidance_weight(9, 5, 0.3, 0.0) == 0.0  # past the end: stays at the end, not below
    with pytest.raises(ValidationError):
        TeacherStudentParams(guidance_start=0.1, guidance_end=0.5)
    with pytest.raises(ValidationError):
        TeacherStudentParams(guidance_end=-0.1)


def test_teacher_quality_rule() -> None:
    logits = torch.tensor([3.0, -3.0, 0.0])
    q = teacher_quality("binary", logits, torch.tensor([1, 1, 0]), 1.0)
    torch.testing.assert_close(q, torch.sigmoid(torch.tensor([3.0, -3.0, 0.0])))
    q = teacher_quality("regression", torch.tensor([0.5]), torch.tensor([0.0]), 0.25)
    assert q.item() == pytest.approx(math.exp(-1.0))


def test_guidance_only_on_confident_examples(binary_data) -> None:
    x = torch.tensor(binary_data.tokens[:8], dtype=torch.long)
    y = torch.tensor(binary_data.labels[:8])
    nobody = build("teacher_student", binary_data.info, quality_threshold=1.0)
    assert nobody.extra_loss(x, nobody(x), y)["guidance"].item() == 0.0
    everybody = build("teacher_student", binary_data.info, quality_threshold=0.0)
    assert everybody.extra_loss(x, everybody(x), y)["guidance"].item() > 0.0


def test_guidance_moves_selection_toward_teacher(binary_data, teacher_checkpoint) -> None:
    train, val = binary_data.view("train"), binary_data.view("val")
    model = build(
        "teacher_student",
        binary_data.info,
        teacher_checkpoint=teacher_checkpoint,
        quality_threshold=0.0,
        guidance_start=20.0,
        guidance_end=20.0,
    )
    model.prepare(train, val, context=None)
    before = model.evaluation_metrics(val)
    assert before["selection_chance"] == pytest.approx(5 / 50)
    fit(model, train, val, tiny_config(epochs=6, lr=1e-2), seed=0)
    after = model.evaluation_metrics(val)
    for key in ("selection_precision_at_k", "selection_jaccard"):
        assert 0.0 <= after[key] <= 1.0
    assert after["selection_precision_at_k"] > max(before["selection_precision_at_k"], 0.2)
    assert np.isfinite(after["selection_jaccard"])
