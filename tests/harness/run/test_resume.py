"""A study killed (SIGKILL) at named points resumes to exactly the runs of an uninterrupted one,
and concurrent ``harness run`` processes on a fresh store all succeed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from harness.__main__ import main
from harness.core.faults import ENV
from tests.conftest import REPO, fresh_store

# two seeds x (constant, cnn): four units; the cnn trains two epochs (the "epoch" point)
STUDY = """
name: resumable
seeds: [0, 1]
datasets:
  - adapter: synthetic_motifs
    params: {n: 120, length: 40, max_motifs: 2}
models:
  - name: constant
  - name: gb_cnn
train: {epochs: 2, batch_size: 32, threads: 1}
evaluation: {importance_max_examples: 20, ablation_steps: 2, ablation_max_examples: 20}
"""

KEYS = {f"synthetic_motifs/{m}/seed{s}" for m in ("constant", "gb_cnn") for s in (0, 1)}


def harness(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -m harness ...`` in a real process (a SIGKILL must not take pytest with it)."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    environ.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_in(folder: Path, argv: list[str]) -> int:
    """``main(argv)`` in this process, with ``folder`` as the working directory meanwhile."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        return main(argv)
    finally:
        os.chdir(cwd)


def finished_children(uri: str) -> dict[str, list[dict[str, float]]]:
    """unit key -> test metrics of each FINISHED child; also asserts nothing is left RUNNING."""
    client = MlflowClient(uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'child'"
    )
    assert not [r for r in runs if r.info.status == "RUNNING"], "runs left RUNNING"
    out: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        if run.info.status == "FINISHED":
            test = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
            out.setdefault(run.data.tags["unit_key"], []).append(test)
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, migrated_store) -> tuple[dict, dict[str, float]]:
    """Test metrics of every unit of one uninterrupted run, by key, and the parent's means."""
    root = tmp_path_factory.mktemp("uninterrupted")
    (root / "s.yaml").write_text(STUDY)
    uri = fresh_store(root / "mlflow.db", migrated_store)
    assert run_in(root, ["run", "s.yaml", "--tracking-uri", uri, "--no-progress"]) == 0
    runs = finished_children(uri)
    assert set(runs) == KEYS
    return {key: metrics[0] for key, metrics in runs.items()}, study_means(uri)


def study_means(uri: str) -> dict[str, float]:
    """The parent's ``mean.<dataset>.<model>.<metric>`` figures: what the analysis computed."""
    client = MlflowClient(uri)
    (parent,) = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'study'"
    )
    means = {k: v for k, v in parent.data.metrics.items() if k.startswith("mean.")}
    assert means
    return means


# point[:n]: the n-th pass of a named fault point (harness.core.faults)
KILL_POINTS = {
    "second dataset load": "load:2",
    "mid-training (after epoch 1 of the first cnn)": "epoch:1",
    "between units (after the third child)": "child_done:3",
    "during the report": "report",
}


@pytest.mark.parametrize("point", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_a_killed_study_resumes_to_the_uninterrupted_runs(
    point, uninterrupted, tmp_path, migrated_store
):
    (tmp_path / "s.yaml").write_text(STUDY)
    uri = fresh_store(tmp_path / "mlflow.db", migrated_store)
    killed = harness(
        ["run", "s.yaml", "--tracking-uri", uri, "--no-progress"], tmp_path, **{ENV: point}
    )
    assert killed.returncode == -9, killed.stderr[-2000:]

    assert run_in(tmp_path, ["run", "s.yaml", "--tracking-uri", uri, "--no-progress"]) == 0
    runs = finished_children(uri)
    assert set(runs) == KEYS
    duplicates = {key: len(m) for key, m in runs.items() if len(m) > 1}
    assert not duplicates
    children, means = uninterrupted
    for key, metrics in runs.items():
        assert metrics[0] == pytest.approx(children[key], rel=1e-6, abs=1e-9), key
    # the analysis of the resumed study (finished children read back) is the uninterrupted one's
    assert study_means(uri) == pytest.approx(means, rel=1e-9, abs=1e-12)
    client = MlflowClient(uri)
    parents = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'study'"
    )
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["study_complete"] == "true"


def test_fresh_closes_the_unfinished_parent_and_a_finished_study_is_not_resumed(
    tmp_path, migrated_store
):
    (tmp_path / "s.yaml").write_text(STUDY.replace("seeds: [0, 1]", "seeds: [0]"))
    uri = fresh_store(tmp_path / "mlflow.db", migrated_store)
    killed = harness(
        ["run", "s.yaml", "--tracking-uri", uri, "--no-progress"], tmp_path, **{ENV: "child_done:1"}
    )
    assert killed.returncode == -9
    args = ["run", "s.yaml", "--tracking-uri", uri, "--no-progress"]
    assert run_in(tmp_path, [*args, "--fresh"]) == 0
    assert run_in(tmp_path, args) == 0
    client = MlflowClient(uri)
    parents = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'study'"
    )
    # the killed one (closed by --fresh, not resumed), --fresh's, and a new one after it
    assert sorted(p.info.status for p in parents) == ["FINISHED", "FINISHED", "KILLED"]
    runs = client.search_runs([parents[0].info.experiment_id], "tags.kind = 'child'")
    assert "RUNNING" not in {r.info.status for r in runs}


def test_four_concurrent_runs_on_a_fresh_store(tmp_path):
    # one seed, one model, no report: the race is on creating the store and the experiment
    study = STUDY.replace("seeds: [0, 1]", "seeds: [0]").replace("  - name: gb_cnn\n", "")
    (tmp_path / "s.yaml").write_text(study + "report: {enabled: false}\n")
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"  # not created yet
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "harness", "run", "s.yaml", "--tracking-uri", uri]
    procs = [
        subprocess.Popen(
            [*command, "--no-progress"],
            cwd=tmp_path,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-1500:] for _, err in outputs]
    client = MlflowClient(uri)
    experiments = client.search_experiments()
    assert len(experiments) == 2  # Default and the study's, created once
    runs = client.search_runs([e.experiment_id for e in experiments])
    parents = [r for r in runs if r.data.tags.get("kind") == "study"]
    kids = [r for r in runs if r.data.tags.get("kind") == "child"]
    assert len(parents) == 4 and all(p.info.status == "FINISHED" for p in parents)
    assert len(kids) == 4 and all(k.info.status == "FINISHED" for k in kids)
    assert {k.data.tags["mlflow.parentRunId"] for k in kids} == {p.info.run_id for p in parents}


def test_a_study_whose_data_changed_since_the_kill_starts_a_new_parent(
    tmp_path, migrated_store, capsys
):
    rows = ["sequence,label"] + [f"{'ACGT' * 5}{'ACGT'[i % 4] * 4},{i % 2}" for i in range(60)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    table = "adapter: table\n    label: motifs\n    params: {path: d.csv, test_fraction: 0.3}"
    study = STUDY.replace("seeds: [0, 1]", "seeds: [0]").replace(
        "adapter: synthetic_motifs\n    params: {n: 120, length: 40, max_motifs: 2}", table
    )
    (tmp_path / "s.yaml").write_text(study)
    uri = fresh_store(tmp_path / "mlflow.db", migrated_store)
    args = ["run", "s.yaml", "--tracking-uri", uri, "--no-progress"]
    assert harness(args, tmp_path, **{ENV: "child_done:1"}).returncode == -9
    (tmp_path / "d.csv").write_text("\n".join(rows[:-1]) + "\n")  # one row fewer
    assert run_in(tmp_path, args) == 0
    assert "its data files changed since it ran" in capsys.readouterr().err
    client = MlflowClient(uri)
    parents = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.kind = 'study'"
    )
    assert sorted(p.info.status for p in parents) == ["FINISHED", "KILLED"]
