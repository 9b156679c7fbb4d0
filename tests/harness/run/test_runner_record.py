"""What a run records beyond test metrics: FAILED runs with their reason (in the outcome, the
Analysis and the report), and, beside the per-epoch curves, ``best_epoch``, ``best_val_<m>`` and
the decision threshold chosen on validation. One table file split by ``test_fraction``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from harness.config.load import load_study
from harness.run import runner
from harness.run.finish import RunFailure, StudyOutcome
from harness.run.runner import run_study

STUDY = """
name: recorded
seeds: [0]
datasets:
  - adapter: table
    label: one_file
    params: {{path: {path}, test_fraction: 0.25}}
models:
  - name: kmer_logreg
  - name: attention
train: {{epochs: 1, batch_size: 16}}
evaluation: {{ablation_steps: 0, importance_max_examples: 0, save_models: false}}
"""


def _table(path) -> None:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(80)]
    labels = [int("GG" in s[:10]) for s in seqs]
    pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(path, index=False)


@pytest.fixture
def ran(store, tmp_path, monkeypatch):
    _table(tmp_path / "one.csv")
    (tmp_path / "s.yaml").write_text(STUDY.format(path=tmp_path / "one.csv"))
    study = load_study(tmp_path / "s.yaml")
    study = study.model_copy(update={"tracking": study.tracking.model_copy(update={"uri": store})})
    real = runner.fit_unit

    def flaky(study, spec, *args, **kwargs):
        if spec.key == "attention":
            raise RuntimeError("boom")
        return real(study, spec, *args, **kwargs)

    monkeypatch.setattr(runner, "fit_unit", flaky)
    return store, run_study(study, show_progress=False)


def test_failed_run_is_in_outcome_analysis_and_report(ran):
    _, outcome = ran
    assert outcome.failed_runs == [RunFailure("one_file", "attention", 0, "RuntimeError: boom")]
    assert outcome.failures == ["one_file/attention/seed0: RuntimeError: boom"]
    assert outcome.analysis.failures.to_dict("records") == [
        {"dataset": "one_file", "model": "attention", "seed": 0, "reason": "RuntimeError: boom"}
    ]
    md = outcome.report_paths["markdown"].read_text()
    assert "| one_file | attention | 0 | RuntimeError: boom |" in md
    assert "| test_fraction | 0.25 |" in md  # the settings section shows the split option


def test_a_study_whose_every_run_failed_still_reports_why(store, tmp_path, monkeypatch):
    _table(tmp_path / "one.csv")
    (tmp_path / "s.yaml").write_text(STUDY.format(path=tmp_path / "one.csv"))
    study = load_study(tmp_path / "s.yaml")
    study = study.model_copy(update={"tracking": study.tracking.model_copy(update={"uri": store})})

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "fit_unit", broken)
    outcome = run_study(study, show_progress=False)
    assert not outcome.results and len(outcome.failed_runs) == 2
    md = outcome.report_paths["markdown"].read_text()
    assert "| one_file | kmer_logreg | 0 | RuntimeError: boom |" in md
    assert "| one_file | attention | 0 | RuntimeError: boom |" in md


def test_best_val_best_epoch_and_threshold_are_run_metrics(ran):
    store, outcome = ran
    (result,) = outcome.results
    metrics = MlflowClient(store).get_run(result.run_id).data.metrics
    assert metrics["best_epoch"] == 1
    assert metrics["best_val_auroc"] == result.curves["val_auroc"][0]
    assert 0 < metrics["decision_threshold"] < 1


def test_outcome_failures_are_lines():
    outcome = StudyOutcome("p", "uri", "e", failed_runs=[RunFailure("d", "m", 2, "Boom: x")])
    assert outcome.failures == ["d/m/seed2: Boom: x"]


def test_a_diverging_run_is_failed_with_the_divergence_and_the_study_goes_on(store, tmp_path):
    _table(tmp_path / "one.csv")
    text = STUDY.format(path=tmp_path / "one.csv").replace(
        "  - name: attention\n", "  - name: attention\n    train: {lr: 1.0e+6, grad_clip: null}\n"
    )
    (tmp_path / "s.yaml").write_text(text)
    study = load_study(tmp_path / "s.yaml")
    study = study.model_copy(update={"tracking": study.tracking.model_copy(update={"uri": store})})
    outcome = run_study(study, show_progress=False)
    (failure,) = outcome.failed_runs
    assert failure.model == "attention"
    assert failure.reason.startswith("diverged: ") and "train.lr=1000000.0" in failure.reason
    assert [r.model for r in outcome.results] == ["kmer_logreg"]
    run = MlflowClient(store).search_runs([outcome.experiment_id], "tags.model = 'attention'")[0]
    assert run.info.status == "FAILED" and run.data.tags["error"] == failure.reason
