"""Malformed studies, parameters and command lines: each one exit 2, one line, no traceback,
nothing written (``tests/refusals.py``). Readers' bad files are in
``tests/adapters/test_bad_reader_inputs.py``, bench flags in ``tests/harness/bench``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient

from harness.config.load import UniqueKeyLoader, parse_study
from harness.core.errors import UserError
from tests.conftest import REPO, fresh_store
from tests.refusals import assert_refused

STUDY = """name: tiny
seeds: [0]
datasets:
  - adapter: synthetic_motifs
    label: motifs
    params: {n: 120, length: 40}
models:
  - name: constant
  - name: kmer_logreg
train: {epochs: 1}
"""


def edited(old: str, new: str) -> str:
    assert old in STUDY
    return STUDY.replace(old, new)


# whole files that are not a valid study: (id, bytes, what the error line must say)
YAML_CASES = [
    ("unclosed-list", b"name: x\nseeds: [0\n", r"tiny\.yaml:\d+: malformed YAML"),
    ("tab-indent", b"name: x\ndatasets:\n\t- adapter: x\n", "malformed YAML"),
    ("empty-file", b"", "must be a mapping"),
    ("a-list", b"- name: x\n", "must be a mapping"),
    ("a-scalar", b"just text\n", "must be a mapping"),
    ("binary", bytes(range(256)) * 4, "not a text YAML file"),
    ("nul-bytes", b"name: x\x00\n", "NUL"),
    ("latin-1", "name: caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ("duplicate-key", (STUDY + "train: {epochs: 2}\n").encode(), "duplicate key 'train'"),
    ("unknown-top-key", (STUDY + "modles: []\n").encode(), "modles: unknown parameter"),
    ("no-datasets", b"name: x\nmodels: [{name: constant}]\n", "datasets: required"),
    ("empty-models", edited("models:", "models: []\nx_models:").encode(), "models"),
    ("name-dotdot", edited("name: tiny", "name: '..'").encode(), "not a safe name"),
    ("name-slash", edited("name: tiny", "name: a/b").encode(), "not a safe name"),
    ("name-hidden", edited("name: tiny", "name: .hidden").encode(), "not a safe name"),
    ("name-long", edited("name: tiny", "name: " + "a" * 65).encode(), "not a safe name"),
    ("label-angle", edited("label: motifs", "label: 'a<b>'").encode(), "not a safe name"),
    ("label-traversal", edited("label: motifs", "label: ../../..").encode(), "not a safe name"),
    (
        "model-label-space",
        edited("- name: constant", "- name: constant\n    label: a b").encode(),
        "safe name",
    ),
    ("unknown-adapter", edited("adapter: synthetic_motifs", "adapter: synth").encode(), "synth"),
    ("unknown-model", edited("- name: constant", "- name: cnostant").encode(), "cnostant"),
    ("reference-typo", (STUDY + "reference: kmer_logreq\n").encode(), "did you mean 'kmer_logreg'"),
    ("baseline-typo", (STUDY + "baselines: [konstant]\n").encode(), "baselines: 'konstant'"),
    (
        "dataset-models-typo",
        edited("label: motifs", "label: motifs\n    models: [kmer]").encode(),
        "kmer",
    ),
    (
        "duplicate-labels",
        edited("- name: kmer_logreg", "- name: constant").encode(),
        "appears twice",
    ),
    ("duplicate-seeds", edited("seeds: [0]", "seeds: [1, 1]").encode(), "distinct"),
    ("seed-text", edited("seeds: [0]", "seeds: [one]").encode(), r"seeds\[0\]"),
    ("missing-claims", (STUDY + "claims: nope.yaml\n").encode(), "no such claims file"),
    ("old-report-claims", (STUDY + "report: {claims: true}\n").encode(), "report.claims"),
    ("tracking-scheme", (STUDY + "tracking: {uri: 'foo://x'}\n").encode(), "scheme 'foo'"),
    ("rich-markup-key", (STUDY + "'[/a]': 1\n").encode(), r"\[/a\]: unknown parameter"),
    ("nested-too-deep", b"name: " + b"[" * 5000 + b"]" * 5000 + b"\n", "malformed YAML"),
    ("seed-huge", edited("seeds: [0]", "seeds: [99999999999999999999999]").encode(), "seeds"),
    ("seed-negative", edited("seeds: [0]", "seeds: [-1]").encode(), "seeds"),
]

# parameters out of range, non-finite or of the wrong type: (id, old, new, fragment)
PARAM_CASES = [
    ("lr-inf", "epochs: 1", "epochs: 1, lr: .inf", "train.lr: .*finite"),
    ("lr-nan", "epochs: 1", "epochs: 1, lr: .nan", "train.lr: .*finite"),
    ("lr-negative", "epochs: 1", "epochs: 1, lr: -0.1", "train.lr"),
    ("epochs-zero", "epochs: 1", "epochs: 0", "train.epochs"),
    ("epochs-fraction", "epochs: 1", "epochs: 1.5", "train.epochs"),
    ("batch-zero", "epochs: 1", "epochs: 1, batch_size: 0", "train.batch_size"),
    ("threads-zero", "epochs: 1", "epochs: 1, threads: 0", "train.threads"),
    ("threads-huge", "epochs: 1", "epochs: 1, threads: 100000", "train.threads"),
    (
        "device-tpu",
        "epochs: 1",
        "epochs: 1, device: tpu9",
        r"unknown device 'tpu9' \(valid: auto, cpu",
    ),
    ("device-cuda-9", "epochs: 1", "epochs: 1, device: 'cuda:9'", "not on this machine"),
    ("optimizer", "epochs: 1", "epochs: 1, optimizer: sgd", "train.optimizer"),
    ("warmup-one", "epochs: 1", "epochs: 1, warmup_fraction: 1.0", "train.warmup_fraction"),
    ("grad-clip-zero", "epochs: 1", "epochs: 1, grad_clip: 0", "train.grad_clip"),
    (
        "model-train-lr",
        "- name: kmer_logreg",
        "- name: kmer_logreg\n    train: {lr: .inf}",
        r"models\[1\].train.lr",
    ),
    ("n-1e12-text", "n: 120", "n: 1e12", r"datasets\[0\].params.n"),
    ("n-1e12-float", "n: 120", "n: 1.0e+12", r"datasets\[0\].params.n"),
    ("length-1e9", "length: 40", "length: 1.0e+9", r"datasets\[0\].params.length"),
    ("n-negative", "n: 120", "n: -5", r"datasets\[0\].params.n"),
    ("threshold-nan", "length: 40", "length: 40, threshold: .nan", "threshold: .*finite"),
    ("adapter-param-typo", "length: 40", "length: 40, lenght: 3", "did you mean 'length'"),
    (
        "model-param-typo",
        "- name: kmer_logreg",
        "- name: kmer_logreg\n    params: {kk: 3}",
        r"models\[1\].params.kk",
    ),
    (
        "ablation-negative",
        "epochs: 1}",
        "epochs: 1}\nevaluation: {ablation_steps: -1}",
        "evaluation.ablation_steps",
    ),
    (
        "importance-text",
        "epochs: 1}",
        "epochs: 1}\nevaluation: {importance_max_examples: many}",
        "importance_max_examples",
    ),
    (
        "experiment-long",
        "epochs: 1}",
        "epochs: 1}\ntracking: {experiment: '" + "e" * 300 + "'}",
        "tracking.experiment",
    ),
]


@pytest.mark.parametrize(
    "content, fragment", [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES]
)
def test_a_malformed_study_file_is_refused(content, fragment, tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_bytes(content)
    line = assert_refused(["validate", str(path)], capsys, tmp_path, fragment)
    assert str(path) in line


@pytest.mark.parametrize(
    "old, new, fragment", [c[1:] for c in PARAM_CASES], ids=[c[0] for c in PARAM_CASES]
)
def test_a_bad_parameter_is_refused_before_anything_runs(old, new, fragment, tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(edited(old, new))
    assert_refused(["run", str(path), "--no-progress"], capsys, tmp_path, fragment)


def test_a_binary_claims_file_is_refused(tmp_path, capsys):
    (tmp_path / "claims.yaml").write_bytes(bytes(range(256)))
    path = tmp_path / "tiny.yaml"
    path.write_text(STUDY + "claims: claims.yaml\n")
    assert_refused(["validate", str(path)], capsys, tmp_path, "claims.yaml: not a text YAML")


def test_a_study_file_named_with_markup_is_printed_verbatim(tmp_path, capsys):
    path = tmp_path / "[/x][bold]a.yaml"
    assert_refused(["validate", str(path)], capsys, tmp_path, r"\[/x\]\[bold\]a\.yaml: no such")


def test_yaml_merge_keys_still_work(tmp_path):
    text = STUDY.replace("train: {epochs: 1}", "base: &b {epochs: 1}\ntrain: {<<: *b, lr: 0.01}")
    data = yaml.load(text, Loader=UniqueKeyLoader)
    data.pop("base")
    assert parse_study(data).train.lr == 0.01


def test_a_monitor_the_task_lacks_is_refused_before_training(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(edited("epochs: 1", "epochs: 1, monitor: val_auroc"))
    assert_refused(
        ["run", str(path), "--no-progress"], capsys, tmp_path, "train.monitor: 'val_auroc'"
    )


@pytest.fixture
def finished_child(tmp_path, migrated_store) -> tuple[str, str, str]:
    """A store holding one parent and one child run: (uri, parent id, child id)."""
    uri = fresh_store(tmp_path / "store" / "mlflow.db", migrated_store)
    client = MlflowClient(uri)
    experiment = client.create_experiment("tiny")
    parent = client.create_run(experiment, tags={"kind": "study"}).info.run_id
    child = client.create_run(
        experiment,
        tags={"kind": "child", "mlflow.parentRunId": parent},
        run_name="motifs/constant/seed0",
    ).info.run_id
    return uri, parent, child


def cli_cases(study: Path, uri: str, parent: str, child: str) -> list[tuple[list[str], str]]:
    """Bad command lines: (argv, what the error line must say)."""
    missing = str(study.parent / "missing.yaml")
    return [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run"], "required: study"),
        (["run", missing], "no such study file"),
        (["run", str(study.parent)], "no such study file"),
        (["run", str(study), "--jobs", "0"], "--jobs: must be at least 1"),
        (["run", str(study), "--jobs", "two"], "--jobs: invalid int"),
        (
            ["run", str(study), "--tracking-uri", "foo://x"],
            "--tracking-uri: no MLflow store for scheme 'foo'",
        ),
        (["run", str(study), "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["validate"], "required: study"),
        (["validate", missing], "no such study file"),
        (["tune", str(study)], "tune"),
        (["tune", str(study), "--workers", "x"], "--workers: invalid int"),
        (["report"], "required: run_id"),
        (["report", "not-a-run-id"], "not an MLflow run id"),
        (["report", "0" * 32, "--tracking-uri", uri], "no MLflow run"),
        (["report", child, "--tracking-uri", uri], f"is a child run .*parent run id {parent}"),
        (["report", parent, "--tracking-uri", uri], "no analysis/ artifacts"),
        (["report", "0" * 32], "no MLflow store at"),
        (["report", "0" * 32, "--tracking-uri", "foo://x"], "scheme 'foo'"),
        (["ui", "--port", "70000"], "--port: 70000 is not a TCP port"),
        (["ui", "--port", "http"], "--port: invalid int"),
        (["ui"], "no MLflow store at"),
        (["list", "extra"], "unrecognized arguments: extra"),
    ]


def test_a_bad_command_line_is_refused(tmp_path, capsys, finished_child):
    study = tmp_path / "tiny.yaml"
    study.write_text(STUDY)
    uri, parent, child = finished_child
    cases = cli_cases(study, uri, parent, child)
    assert len(cases) >= 15
    for argv, fragment in cases:
        assert_refused(argv, capsys, tmp_path, fragment)


@pytest.mark.parametrize(
    "argv_of, fragment",
    [
        (lambda s: ["run", str(s.parent / "nope.yaml")], "no such study file"),
        (lambda s: ["run", str(s), "--jobs", "0"], "--jobs"),
        (lambda s: ["report", "xyz"], "not an MLflow run id"),
        (lambda s: ["bench", "attention", "--lengths", "0"], "--lengths"),
    ],
    ids=["missing-study", "jobs-zero", "bad-run-id", "bench-length-zero"],
)
def test_refusals_through_a_real_process(argv_of, fragment, tmp_path):
    """The same contract where it matters most: a fresh interpreter, stderr as a user sees it."""
    study = tmp_path / "tiny.yaml"
    study.write_text(STUDY)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *argv_of(study)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


# any mapping of plausible keys to arbitrary values: parsed, or refused as a UserError
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "name",
        "seeds",
        "datasets",
        "models",
        "train",
        "tracking",
        "evaluation",
        "report",
        "tune",
        "reference",
        "baselines",
        "claims",
        "description",
        "x",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.dictionaries(KEYS, VALUES, max_size=6),
    dataset=st.dictionaries(
        st.sampled_from(["n", "length", "target", "motifs", "noise_sd", "x"]), VALUES, max_size=3
    ),
    train=st.dictionaries(
        st.sampled_from(["lr", "epochs", "device", "monitor", "threads", "x"]), VALUES, max_size=3
    ),
)
def test_any_study_mapping_parses_or_is_a_user_error(base, dataset, train):
    study = yaml.safe_load(STUDY)
    study.update(base)
    study["datasets"] = [{"adapter": "synthetic_motifs", "params": dataset}]
    study["train"] = train
    try:
        parse_study(study, "fuzz.yaml")
    except UserError as err:
        assert "\n" not in str(err) and str(err)
