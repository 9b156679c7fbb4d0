"""A resumed unit takes a student's teacher from the kept run that trained it (its logged
model), instead of training it again, and the student comes out exactly as in one go."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from harness.config.load import parse_study
from harness.run.resume import unit_key
from harness.run.runner import run_unit
from harness.run.tracking import Tracker
from harness.run.units import UnitPlan
from tests.harness.train.test_unit import TEACHER_STUDY, count_fits

# the unit-level teacher-memo study (transformer + its sparse student), models logged
BOTH = {
    **TEACHER_STUDY.model_dump(mode="json", include={"name", "seeds", "datasets", "train"}),
    "models": [m.model_dump(mode="json") for m in TEACHER_STUDY.models],
    "evaluation": {"ablation_steps": 0, "importance_max_examples": 0},
}
DATASET = TEACHER_STUDY.datasets[0].key
KEPT = frozenset({unit_key(DATASET, "transformer", 0)})


def _study(save_models: bool = True, only_full: bool = False):
    data = {**BOTH, "evaluation": {**BOTH["evaluation"], "save_models": save_models}}
    if only_full:
        data["models"] = BOTH["models"][:1]
    return parse_study(data)


def _interrupted_then_resumed(store: str, monkeypatch, save_models: bool):
    """The transformer child finished in an earlier process (a fresh memo), the student now."""
    tracker = Tracker(store, f"kept_{save_models}")
    parent = tracker.start_run("kept", {"kind": "study"})
    first = run_unit(_study(save_models, only_full=True), UnitPlan(0, 0), tracker, parent)
    calls = count_fits(monkeypatch)
    plan = UnitPlan(0, 0, done=KEPT, record_logged=True)
    resumed = run_unit(_study(save_models), plan, tracker, parent)
    return first.results[0], resumed.results[0], calls


@pytest.fixture
def in_one_go(store):
    tracker = Tracker(store, "one_go")
    parent = tracker.start_run("kept", {"kind": "study"})
    return run_unit(_study(), UnitPlan(0, 0), tracker, parent).results[1]


def test_the_teacher_comes_from_the_kept_run_and_the_student_is_unchanged(
    store, monkeypatch, in_one_go
):
    full, student, calls = _interrupted_then_resumed(store, monkeypatch, save_models=True)
    assert student.model == "sparse_transformer"
    assert "TransformerModel" not in calls  # the kept transformer was not trained again
    assert student.metrics == in_one_go.metrics  # exactly the uninterrupted study's student
    assert student.compute["best_epoch"] == in_one_go.compute["best_epoch"]
    # the student logs the teacher's training as the kept run logged it
    logged = MlflowClient(store).get_run(student.run_id).data.metrics
    assert logged["teacher_best_val"] == pytest.approx(full.compute["best_val_pearson"])
    assert logged["teacher_best_epoch"] == full.compute["best_epoch"]


def test_without_logged_models_the_teacher_is_trained_again(store, monkeypatch, in_one_go):
    _, student, calls = _interrupted_then_resumed(store, monkeypatch, save_models=False)
    assert calls.count("TransformerModel") == 1
    assert student.metrics == in_one_go.metrics
