"""MLflow-native records of a study: model-training experiments, each child's dataset inputs
(one per split, digest = the dataset fingerprint), its logged pyfunc model scoring raw DNA
strings exactly like the harness, the parent's environment, and ``run --register``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from adapters.encoding import decode
from harness.__main__ import main
from harness.core.errors import UserError
from harness.run.logged_model import best_results, model_id_of
from harness.run.tracking import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    SYSTEM_METRICS_SWITCH,
    Tracker,
    system_metrics,
)
from tests.conftest import fresh_store
from tests.refusals import assert_refused

STUDY = """
name: logged
seeds: [0]
datasets:
  - adapter: table
    label: one_file
    params: {{path: {path}, test_fraction: 0.25}}
models:
  - name: kmer_logreg
  - name: attention
train: {{epochs: 2, batch_size: 16}}
evaluation: {{ablation_steps: 0, importance_max_examples: 0, save_models: {save}}}
"""
LENGTH = 30


def _write_study(folder: Path, save: bool = True) -> Path:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(80)]
    labels = [int("GG" in s[:10]) for s in seqs]
    pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(folder / "one.csv", index=False)
    path = folder / "s.yaml"
    path.write_text(STUDY.format(path=folder / "one.csv", save=str(save).lower()))
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory, migrated_store):
    """The tiny study run once through the CLI with ``--register``; its store and output."""
    folder = tmp_path_factory.mktemp("logged")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        store = fresh_store(folder / "mlflow.db", migrated_store)
        study = _write_study(folder)
        code = main(
            ["run", str(study), "--tracking-uri", store, "--no-progress", "--register", "tiny"]
        )
    assert code == 0
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("logged")
    children = {
        r.data.tags["model"]: r
        for r in client.search_runs([experiment.experiment_id], "tags.kind = 'child'")
    }
    return store, client, experiment, children


@pytest.fixture
def tracking(ran, monkeypatch):
    """``models:/`` URIs resolve through the global tracking URI: the study's store here."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ran[0])
    return ran


def test_experiment_is_a_model_training_experiment(ran):
    _, _, experiment, _ = ran
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"


def test_each_child_logs_one_dataset_input_per_split(ran):
    _, _, _, children = ran
    assert set(children) == {"kmer_logreg", "attention"}
    for run in children.values():
        fingerprint = run.data.tags["dataset_fingerprint"]
        inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
        assert set(inputs) == {"train", "val", "test"}
        sizes = {}
        for split, dataset in inputs.items():
            assert dataset.name == "one_file"
            assert dataset.digest == f"{fingerprint}-{split}"
            assert json.loads(dataset.source)["adapter"] == "table"
            profile = json.loads(dataset.profile)
            assert profile["length"] == LENGTH and profile["task"] == "binary"
            assert sum(profile["class_counts"].values()) == profile["num_rows"]
            sizes[split] = profile["num_rows"]
        assert sizes["test"] == 20 and sum(sizes.values()) == 80


def test_each_child_has_a_ready_logged_model_with_linked_metrics(ran):
    _, client, experiment, children = ran
    for key, run in children.items():
        model_id = model_id_of(client, run.info.run_id)
        assert model_id is not None
        logged = client.get_logged_model(model_id)
        assert logged.name == key and logged.source_run_id == run.info.run_id
        assert logged.status.to_proto() == 2  # READY
        linked = {m.key: m for m in logged.metrics}
        assert linked["test_auroc"].dataset_digest.endswith("-test")
        assert linked["best_val_auroc"].dataset_digest.endswith("-val")
        assert run.data.metrics["log_model_seconds"] > 0
        found = client.search_logged_models(
            [experiment.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
        )
        assert [m.model_id for m in found] == [model_id]


def _test_split(client: MlflowClient, run) -> tuple[list[str], np.ndarray]:
    """The child's test sequences as strings and the scores the harness logged for them."""
    folder = client.download_artifacts(run.info.run_id, "result")
    with np.load(f"{folder}/arrays.npz") as arrays:
        ids, scores = arrays["ids"], arrays["y_score"]
    parent = run.data.tags["mlflow.parentRunId"]
    data = client.download_artifacts(parent, "datasets/one_file__seed0.npz")
    with np.load(data) as test:
        by_id = dict(zip(test["ids"].astype(str), decode(test["tokens"]), strict=True))
    return [by_id[i] for i in ids.astype(str)], scores


@pytest.mark.parametrize("key", ["attention", "kmer_logreg"])
def test_pyfunc_round_trip_scores_raw_sequences_like_the_harness(tracking, key):
    _, client, _, children = tracking
    run = children[key]
    seqs, logged_scores = _test_split(client, run)
    model = mlflow.pyfunc.load_model(f"models:/{model_id_of(client, run.info.run_id)}")
    scores = model.predict(seqs)
    assert scores.shape == (len(seqs),)
    np.testing.assert_allclose(scores, logged_scores, rtol=1e-5, atol=1e-6)
    # a DataFrame column works too; case does not matter; a longer sequence is center-cropped
    # to the trained length; a shorter one is padded and still scored
    first = seqs[0]
    longer = "AC" + first + "GT"
    again = model.predict(pd.DataFrame({"sequence": [first.lower(), longer, first[:12]]}))
    np.testing.assert_allclose(again[:2], logged_scores[[0, 0]], rtol=1e-5, atol=1e-6)
    assert np.isfinite(again).all() and ((again >= 0) & (again <= 1)).all()


def test_pyfunc_refuses_a_non_dna_character(tracking):
    _, client, _, children = tracking
    model = mlflow.pyfunc.load_model(
        f"models:/{model_id_of(client, children['attention'].info.run_id)}"
    )
    with pytest.raises(Exception, match="invalid character '-'"):
        model.predict(["ACGT-ACGT"])


def test_register_picks_the_best_validation_run(ran):
    _, client, _, children = ran
    versions = client.search_model_versions("name = 'tiny'")
    assert len(versions) == 1
    version = versions[0]
    best = max(children.values(), key=lambda r: r.data.metrics["best_val_auroc"])
    assert version.run_id == best.info.run_id
    assert version.source == f"models:/{model_id_of(client, best.info.run_id)}"
    assert version.tags["best_val_auroc"] == str(best.data.metrics["best_val_auroc"])


def test_best_results_reads_validation_never_test():
    class Result:  # the fields best_results reads
        def __init__(self, model: str, val: float, test: float) -> None:
            self.dataset, self.model, self.task = "d", model, "regression"
            self.compute = {"best_val_pearson": val}
            self.metrics = {"pearson": test}

    chosen = best_results([Result("a", 0.2, 0.9), Result("b", 0.5, 0.1)])  # type: ignore[list-item]
    assert [(r.model, metric) for r, metric in chosen] == [("b", "best_val_pearson")]


def test_parent_logs_the_environment(ran):
    _, client, experiment, _ = ran
    parent = client.search_runs([experiment.experiment_id], "tags.kind = 'study'")[0]
    run_id = parent.info.run_id
    names = {a.path for a in client.list_artifacts(run_id, "environment")}
    assert names == {"environment/requirements.txt", "environment/platform.json"}
    info = json.loads(
        Path(client.download_artifacts(run_id, "environment/platform.json")).read_text()
    )
    assert info["torch"] and info["python"] and "cuda_available" in info
    reqs = Path(client.download_artifacts(run_id, "environment/requirements.txt")).read_text()
    assert any(line.startswith("mlflow==") for line in reqs.splitlines())


def test_register_without_saved_models_is_refused_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = _write_study(tmp_path, save=False)
    store = f"sqlite:///{tmp_path / 'none.db'}"
    argv = ["run", str(study), "--tracking-uri", store, "--register", "x"]
    assert_refused(argv, capsys, tmp_path, "evaluation.save_models")


def test_an_experiment_made_before_the_kind_tag_gets_it(store):
    client = MlflowClient(store)
    client.create_experiment("older")
    Tracker(store, "older")
    assert client.get_experiment_by_name("older").tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


def test_system_metrics_are_sampled_for_a_run_when_switched_on(store, monkeypatch):
    pytest.importorskip("psutil")
    monkeypatch.setenv(SYSTEM_METRICS_SWITCH, "true")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    tracker = Tracker(store, "system")
    run_id = tracker.start_run("one", {})
    with system_metrics(tracker, run_id):
        time.sleep(1.0)
    tracker.finish(run_id)
    metrics = tracker.client.get_run(run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics


def test_system_metrics_without_psutil_is_a_user_error(store, monkeypatch):
    monkeypatch.setenv(SYSTEM_METRICS_SWITCH, "true")
    monkeypatch.setitem(sys.modules, "mlflow.system_metrics.system_metrics_monitor", None)
    tracker = Tracker(store, "system")
    with pytest.raises(UserError, match="need psutil"), system_metrics(tracker, "x"):
        pass


def test_system_metrics_are_off_by_default(store, monkeypatch):
    monkeypatch.delenv(SYSTEM_METRICS_SWITCH, raising=False)
    monkeypatch.setitem(sys.modules, "mlflow.system_metrics.system_metrics_monitor", None)
    with system_metrics(Tracker(store, "system"), "x"):  # never imports the monitor
        pass
