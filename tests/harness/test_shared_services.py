"""The harness against real shared services: an ``mlflow server`` whose backend store is
PostgreSQL, and an Optuna storage in PostgreSQL shared by two ``harness tune`` workers.

The PostgreSQL cluster comes from ``$HARNESS_TEST_POSTGRES_URL`` (``.ci/run`` starts one with
``.ci/postgres.sh``). Without it these tests fail in CI (``CI=true``) and skip elsewhere. Each test
module creates its own databases, so reruns against one cluster never collide, and drops them at
the end. Everyone else keeps the embedded SQLite store; nothing here changes a default.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "HARNESS_TEST_POSTGRES_URL"
SERVER_START_S = 120  # the server migrates a new PostgreSQL schema first (tens of seconds)
COMMAND_S = 240

DATASET = {"adapter": "synthetic_motifs", "params": {"n": 120, "length": 40, "max_motifs": 2}}
SMALL_ATTNGEN = {"embed_dim": 8, "channels": [4, 4, 2], "hidden": 8}


@dataclass(frozen=True)
class Server:
    """A running ``mlflow server``: its URI and where it stores artifacts."""

    uri: str
    artifacts: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> str:
    """The cluster's URL; a failure in CI when it is missing, a skip elsewhere."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        reason = f"${POSTGRES_ENV} is not set (start a cluster: url=$(.ci/postgres.sh start DIR))"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL missing in CI: {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="module")
def databases(postgres_url: str) -> Iterator[dict[str, str]]:
    """Two fresh databases, ``mlflow`` and ``optuna``, as URLs; dropped afterwards."""
    # AUTOCOMMIT: CREATE / DROP DATABASE cannot run inside a transaction
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:12]
    names = {role: f"harness_test_{role}_{suffix}" for role in ("mlflow", "optuna")}
    base = make_url(postgres_url)
    try:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield {
            role: base.set(database=name).render_as_string(hide_password=False)
            for role, name in names.items()
        }
    finally:
        with admin.connect() as conn:
            for name in names.values():
                # FORCE: a server or worker that died may still hold a connection
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stop(proc: subprocess.Popen) -> None:
    """Terminate the process group (the CLI and the uvicorn it starts), then kill it."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy after {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def mlflow_server(databases: dict[str, str], tmp_path_factory) -> Iterator[Server]:
    """``mlflow server`` on 127.0.0.1 with its runs in PostgreSQL, artifacts in a temp folder."""
    root = tmp_path_factory.mktemp("mlflow_server")
    artifacts = root / "artifacts"
    log = root / "server.log"
    port = free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", databases["mlflow"]),
        *("--artifacts-destination", str(artifacts)),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    # no job runner: it starts eight more Python processes for GenAI jobs the harness never uses
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("wb") as out:
        # its own process group: the CLI starts uvicorn as a child, and both must stop
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=root,
            env=env,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, log)
        yield Server(url, artifacts)
    finally:
        stop(proc)


def harness(args: list[str], cwd: Path) -> str:
    """``python -m harness ARGS`` in ``cwd``; its output, or a test failure showing it."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "harness", *args, "--no-progress"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_S,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"harness {' '.join(args[:2])} exited {done.returncode}:\n{output}"
    return output


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def runs_of(client: MlflowClient, experiment: str, where: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} on the server"
    return client.search_runs([exp.experiment_id], filter_string=where)


def test_a_study_logs_to_an_mlflow_server_backed_by_postgres(mlflow_server: Server, tmp_path):
    study = {
        "name": "shared_run",
        "seeds": [0],
        "datasets": [DATASET],
        "models": [{"name": "constant"}, {"name": "attngen", "params": SMALL_ATTNGEN}],
        "train": {"epochs": 1, "batch_size": 32, "monitor": "pearson", "threads": 1},
        "evaluation": {"ablation_steps": 0, "importance_max_examples": 0, "save_models": False},
        "report": {"enabled": False},
        "tracking": {"uri": mlflow_server.uri},
    }
    printed = harness(["run", str(write(tmp_path / "study.yaml", study))], tmp_path)

    client = MlflowClient(mlflow_server.uri)
    parents = runs_of(client, "shared_run", "tags.kind = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    assert parent in printed
    kids = {
        run.info.run_name: run
        for run in runs_of(client, "shared_run", f"tags.mlflow.parentRunId = '{parent}'")
    }
    assert set(kids) == {"synthetic_motifs/constant/seed0", "synthetic_motifs/attngen/seed0"}
    for name, run in kids.items():
        assert run.info.status == "FINISHED", name
        assert {"test_pearson", "test_mse"} <= set(run.data.metrics), name
        # artifacts go through the server's proxy into --artifacts-destination
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"predictions.csv", "curves.json", "result"} <= names, name
        local = Path(client.download_artifacts(run.info.run_id, "predictions.csv", str(tmp_path)))
        assert local.read_text().startswith("example_id,y_true,y_score")
    assert client.list_artifacts(parent, "analysis"), "the parent's analysis/ is missing"
    stored = {p.name for p in mlflow_server.artifacts.rglob("predictions.csv")}
    assert stored == {"predictions.csv"}  # on the server's disk, not in the test's folder
    assert not (tmp_path / "mlruns").exists()  # the embedded default store was not touched


def test_two_tune_workers_share_a_postgres_storage(mlflow_server, databases, tmp_path):
    n_trials = 4
    study = {
        "name": "shared_tune",
        "seeds": [0],
        "datasets": [{**DATASET, "params": {**DATASET["params"], "target": "binary"}}],
        "models": [{"name": "attngen", "params": SMALL_ATTNGEN}],
        "train": {"epochs": 1, "batch_size": 32, "monitor": "auroc", "threads": 1},
        "evaluation": {"ablation_steps": 0, "importance_max_examples": 0, "save_models": False},
        "report": {"enabled": False},
        "tracking": {"uri": mlflow_server.uri},
        "tune": {
            "objective": {"metric": "val_auroc", "direction": "maximize"},
            "space": {"mask_ratio": {"float": [0.0, 0.75]}},
            "n_trials": n_trials,
            "sampler": "random",
            "pruner": {"name": "none"},
            "confirm": False,
        },
    }
    path = write(tmp_path / "study.yaml", study)
    harness(["tune", str(path), "--workers", "2", "--storage", databases["optuna"]], tmp_path)

    stored = optuna.load_study(study_name="shared_tune", storage=databases["optuna"])
    trials = stored.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(n_trials))
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    assert not (tmp_path / "optuna" / "shared_tune.journal").exists()  # no journal fallback

    client = MlflowClient(mlflow_server.uri)
    parents = runs_of(client, "shared_tune", "tags.kind = 'tune'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert "***" in parents[0].data.tags["storage"]  # the password is hidden on the server
    kids = runs_of(client, "shared_tune", "tags.kind = 'trial'")
    assert {k.info.status for k in kids} == {"FINISHED"}
    assert {k.data.tags["mlflow.parentRunId"] for k in kids} == {parents[0].info.run_id}
    # every Optuna trial points at its MLflow run on the server, and back
    linked = {t.user_attrs["mlflow_run_id"]: str(t.number) for t in trials}
    assert linked == {k.info.run_id: k.data.tags["trial"] for k in kids}
