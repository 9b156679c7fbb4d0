"""``harness bench`` refuses bad arguments before any work: one line naming the flag and the
valid range, exit 2, nothing written, no model built or timed."""

from __future__ import annotations

import pytest
import torch

from harness.bench import record, specs, speed
from tests.refusals import assert_refused

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
NO_MPS = pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
HUGE = str(10**15)  # tokens per sequence no machine holds at any batch size


@pytest.fixture(autouse=True)
def _no_benchmarking(monkeypatch):
    """A refused command must not reach the measuring loop."""

    def refuse(*args, **kwargs):
        raise AssertionError("a point was measured for a refused command")

    monkeypatch.setattr(speed, "measure_point", refuse)


REFUSED = [
    pytest.param(["--lengths", "0"], r"--lengths: 0 .*valid: 1 to \d+", id="length-zero"),
    pytest.param(["--lengths", "-5"], r"--lengths: -5 .*valid: 1 to \d+", id="length-negative"),
    pytest.param(["--lengths", "64", "0"], r"--lengths: 0 ", id="one-bad-length-of-two"),
    pytest.param(
        ["--lengths", HUGE], r"--lengths: \d+ does not fit cpu .*valid: 1 to \d+", id="too-long"
    ),
    pytest.param(
        ["--lengths", "64", "--batch-size", HUGE],
        r"--batch-size: \d+ does not fit cpu even at length 1.*valid: 1 to \d+",
        id="batch-beyond-memory",
    ),
    pytest.param(["--batch-size", "0"], r"--batch-size: 0 .*valid: 1 or more", id="batch-zero"),
    pytest.param(["--batch-size", "-2"], r"--batch-size: -2 .*valid: 1", id="batch-negative"),
    pytest.param(["--repeats", "0"], r"--repeats: 0 .*valid: 1 or more", id="repeats-zero"),
    pytest.param(["--repeats", "-3"], r"--repeats: -3 .*valid: 1", id="repeats-negative"),
    pytest.param(["--threads", "0"], r"--threads: 0 .*valid: 1 or more", id="threads-zero"),
    pytest.param(["--threads", "-1"], r"--threads: -1 .*valid: 1", id="threads-negative"),
    pytest.param(
        ["--token-budget", "0"], r"--token-budget: 0 .*valid: 1 or more", id="budget-zero"
    ),
    pytest.param(
        ["--token-budget", HUGE],
        r"--token-budget: \d+ does not fit cpu.*valid: 1 to \d+",
        id="budget-beyond-memory",
    ),
    pytest.param(
        ["--modes", "inference", "training"],
        r"--modes: unknown mode 'training'.*\(valid: inference, train_step\)",
        id="unknown-mode",
    ),
    pytest.param(
        ["--max-memory-gb", "0"], r"--max-memory-gb: 0 .*valid: a number above 0", id="mem-zero"
    ),
    pytest.param(["--max-memory-gb", "-4"], r"--max-memory-gb: -4 ", id="mem-negative"),
    pytest.param(["--max-memory-gb", "nan"], r"--max-memory-gb: nan ", id="mem-nan"),
    pytest.param(
        ["--max-seconds", "0"], r"--max-seconds: 0 .*valid: a number above 0", id="time-zero"
    ),
    pytest.param(["--max-seconds", "inf"], r"--max-seconds: inf ", id="time-inf"),
    pytest.param(["--tracking-uri", "ftp://x"], r"--tracking-uri", id="tracking-uri-scheme"),
    pytest.param(["--device", "tpu9"], r"--device: unknown device 'tpu9' \(valid: .*cpu", id="tpu"),
    pytest.param(["--device", ""], r"--device: unknown device ''", id="device-empty"),
    pytest.param(["--device", "cuda:x"], r"--device: unknown device 'cuda:x'", id="cuda-no-index"),
    pytest.param(
        ["--device", "cuda:99"], r"--device: 'cuda:99' is not on this machine", id="cuda-99"
    ),
    pytest.param(
        ["--device", "cuda"],
        r"--device: 'cuda' is not on this machine \(it has: cpu",
        id="cuda-missing",
        marks=NO_CUDA,
    ),
    pytest.param(
        ["--device", "mps"], r"--device: 'mps' is not on this machine", id="mps", marks=NO_MPS
    ),
]


@pytest.mark.parametrize(("flags", "match"), REFUSED)
def test_bad_flags_are_refused_before_any_work(flags, match, capsys, tmp_path):
    out = tmp_path / "bench.csv"
    assert_refused(["bench", "attention", *flags, "--out", str(out)], capsys, tmp_path, match)


@pytest.mark.parametrize(
    ("models", "match"),
    [
        pytest.param(
            ["atention"], r"unknown model 'atention'; did you mean 'attention'", id="typo"
        ),
        pytest.param(
            ["attention", "nope"], r"unknown model 'nope' \(valid: .*attention", id="second-unknown"
        ),
        pytest.param(["kmer_logreg"], r"'kmer_logreg' is not a torch model", id="closed-form"),
        pytest.param(
            ["attention", "kmer_logreg"], r"not a torch model", id="closed-form-after-a-good-one"
        ),
        pytest.param(
            ["sparse_transformer:keep_token=8"],
            r"sparse_transformer has no parameter 'keep_token' \(valid: .*keep_tokens",
            id="spec-unknown-key",
        ),
        pytest.param(
            ["sparse_transformer:keep_tokens=0"],
            r"'sparse_transformer:keep_tokens=0': keep_tokens: Input should be greater",
            id="spec-bad-value",
        ),
        pytest.param(
            ["sparse_transformer:keep_tokens"], r"is not KEY=VALUE \(form: NAME", id="spec-no-eq"
        ),
        pytest.param(
            ["sparse_transformer:sparsity=0.1,sparsity=0.2"],
            r"'sparsity' is given twice",
            id="spec-twice",
        ),
        pytest.param(
            ["sparse_transformer:sparsity=[1]"],
            r"sparsity='\[1\]' is not a number",
            id="spec-list",
        ),
        pytest.param(
            ["sparse_transformer:sparsity=0.1,keep_tokens=9"], r"not both", id="spec-conflict"
        ),
        pytest.param(["spars:sparsity=0.1"], r"unknown model 'spars'", id="spec-unknown-model"),
        pytest.param(
            ["sparse_transformer:selector_training=pooling,teacher=false"],
            r"distils from a teacher: teacher: true",
            id="spec-refused-by-the-constructor",
        ),
    ],
)
def test_bad_models_are_refused_before_any_work(models, match, capsys, tmp_path):
    assert_refused(["bench", *models, "--lengths", "32"], capsys, tmp_path, match)


def test_the_first_bad_flag_is_named_even_after_good_models(capsys, tmp_path):
    line = assert_refused(
        ["bench", "attention", "sparse_attention", "--repeats", "0", "--threads", "0"],
        capsys,
        tmp_path,
    )
    assert "--repeats" in line


def test_a_model_spec_is_parsed_into_name_and_params():
    name, params = specs.check_model_spec("sparse_transformer: keep_tokens=1024, teacher=false")
    assert name == "sparse_transformer" and params == {"keep_tokens": 1024, "teacher": False}
    assert specs.parse_model_spec("transformer") == ("transformer", {})
    assert record.metric_part("sparse_transformer:keep_tokens=1024") == (
        "sparse_transformer_keep_tokens_1024"
    )


def test_good_arguments_pass_the_check():
    plan = speed.check_arguments(
        ["attention"], [64, 32, 64], 4, 1, "auto", 1, ["train_step", "inference"], 100
    )
    assert plan.device in {"cpu", "cuda"}
    assert plan.lengths == (32, 64)  # ascending, once each
    assert plan.modes == ("inference", "train_step")  # inference first at every length
    assert plan.settings == ("batch", "budget")
    assert [plan.batch_for("budget", n) for n in plan.lengths] == [3, 1]


def test_long_adds_the_lengths_beyond_100k(capsys, tmp_path):
    """``--long`` lengths are checked like the others: at a batch that holds 100,000 bases per
    sequence, 64 fits and the first long length (131,072) is refused, before any work."""
    batch = speed.device_memory("cpu") // (100_000 * speed.BYTES_PER_TOKEN)
    argv = ["bench", "attention", "--lengths", "64", "--long", "--batch-size", str(batch)]
    line = assert_refused(argv, capsys, tmp_path)
    assert "--lengths: 131072 does not fit cpu" in line
