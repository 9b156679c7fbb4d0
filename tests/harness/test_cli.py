"""The CLI end to end on a tiny study, with the MLflow store queried afterwards."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from harness.__main__ import _described, main
from harness.core.registry import get_model

TINY = """
name: tiny
seeds: [0, 1]
datasets:
  - adapter: synthetic_motifs
    params: {{n: 120, length: 40, max_motifs: 2}}
models:
  - name: constant
  - name: attention
    params: {{positional: true}}
train: {{epochs: 2, batch_size: 16, monitor: {monitor}}}
evaluation: {{ablation_steps: 3, ablation_max_examples: 20}}
report: {{enabled: {report}}}
"""


def children(client: MlflowClient, parent: str):
    runs = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent}'",
    )
    return {run.info.run_name: run for run in runs}


def test_run_logs_parent_children_params_metrics_artifacts(store, tmp_path, capsys):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY.format(monitor="pearson", report="true"))
    assert main(["run", str(study), "--tracking-uri", store, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "constant predictor" in printed and "noise ceiling" in printed

    client = MlflowClient(store)
    exp = client.get_experiment_by_name("tiny")
    parents = client.search_runs([exp.experiment_id], filter_string="tags.kind = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    assert parent in printed
    kids = children(client, parent)
    assert set(kids) == {
        f"synthetic_motifs/{m}/seed{s}" for m in ("constant", "attention") for s in (0, 1)
    }
    run = kids["synthetic_motifs/attention/seed1"]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.positional"] == "True"
    assert run.data.params["train.epochs"] == "2"
    assert run.data.tags["seed"] == "1" and len(run.data.tags["dataset_fingerprint"]) == 16
    assert "git_commit" in run.data.tags and "version.torch" in run.data.tags
    for metric in (
        "test_pearson",
        "test_mse",
        "baseline_test_pearson",
        "n_params",
        "macs_per_seq",
        "train_seconds",
    ):
        assert metric in run.data.metrics, metric
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [1, 2]
    assert len(client.get_metric_history(run.info.run_id, "val_pearson")) == 2

    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"predictions.csv", "importance.npz", "curves.json"} <= names
    # the trained model is the run's logged model (an output of the run), not a loose artifact
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    assert len(outputs) == 1 and client.get_logged_model(outputs[0].model_id).source_run_id == (
        run.info.run_id
    )
    local = client.download_artifacts(run.info.run_id, "predictions.csv", str(tmp_path))
    preds = pd.read_csv(local)
    assert list(preds.columns) == ["example_id", "y_true", "y_score"]
    assert len(preds) == 18  # 15% of 120
    imp = np.load(client.download_artifacts(run.info.run_id, "importance.npz", str(tmp_path)))
    assert imp["importance"].shape == (18, 40)

    parent_files = {a.path for a in client.list_artifacts(parent)}
    assert {"study.yaml", "tables", "datasets", "report"} <= parent_files
    # The same test examples are scored by both models, so runs pair by example id.
    other = pd.read_csv(
        client.download_artifacts(
            kids["synthetic_motifs/constant/seed1"].info.run_id,
            "predictions.csv",
            str(tmp_path / "c"),
        )
    )
    assert list(other.example_id) == list(preds.example_id)


def test_a_monitor_the_task_lacks_is_refused_before_any_run_exists(store, tmp_path, capsys):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY.format(monitor="auroc", report="false"))  # auroc: not a regression metric
    assert main(["run", str(study), "--tracking-uri", store, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "train.monitor: 'auroc' is not a regression validation metric" in err
    assert "Traceback" not in err
    # refused once the data said the task is regression, before the experiment was created
    assert MlflowClient(store).get_experiment_by_name("tiny") is None


def test_validate_and_list(tmp_path, capsys):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY.format(monitor="pearson", report="false"))
    assert main(["validate", str(study)]) == 0
    assert "4 runs" in capsys.readouterr().out
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    for name in ("synthetic_motifs", "attention", "gb_cnn", "constant", "sparsity"):
        assert name in listing
    # roles and seed reproductions are labelled, so a newcomer sees which model is which
    assert "role: baseline" in _described(get_model("constant"))
    assert "role: reference" in _described(get_model("transformer"))
    assert "seed reproduction: sparse-attention-paper.md" in _described(get_model("attention"))
    assert "seed reproduction" not in _described(get_model("transformer"))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("name: x\nseeds: [0\n", "malformed YAML"),
        ("name: x\ndatasets: [{adapter: nope}]\nmodels: [{name: attention}]\n", "unknown adapter"),
        (
            "name: x\ndatasets: [{adapter: synthetic_motifs}]\nmodels: [{name: attention}]\n"
            "train: {epochs: -1}\n",
            "train.epochs",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and str(path) in lines[0]


def test_parallel_jobs_log_the_same_runs_and_numbers_as_sequential(store, tmp_path):
    study = tmp_path / "tiny.yaml"
    text = TINY.format(monitor="pearson", report="false").replace(
        "train: {", "train: {threads: 1, "
    )
    study.write_text(text)
    seq_uri = store
    par_uri = f"sqlite:///{tmp_path / 'parallel.db'}"
    assert main(["run", str(study), "--tracking-uri", seq_uri, "--no-progress"]) == 0
    assert main(["run", str(study), "--tracking-uri", par_uri, "--no-progress", "--jobs", "2"]) == 0
    found = []
    for uri in (seq_uri, par_uri):
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name("tiny")
        parent = client.search_runs([exp.experiment_id], filter_string="tags.kind = 'study'")[0]
        assert parent.info.status == "FINISHED"
        kids = children(client, parent.info.run_id)
        assert all(k.info.status == "FINISHED" for k in kids.values())
        found.append({name: run.data.metrics["test_mse"] for name, run in kids.items()})
    assert found[0].keys() == found[1].keys() and len(found[0]) == 4
    for name, value in found[0].items():
        assert found[1][name] == pytest.approx(value, rel=1e-6), name
