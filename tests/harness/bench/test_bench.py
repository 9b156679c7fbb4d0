"""``harness bench`` measures; it asserts nothing about speed, only that figures are produced,
that memory is read correctly, and that the grid stops, budgets and records as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from harness.__main__ import main
from harness.bench import isolate, speed
from harness.bench.memory import cpu_tensor_peak
from harness.bench.plots import plot_scaling
from harness.bench.speed import bench, check_arguments, loglog_slopes, run_bench
from harness.bench.worker import OUT_OF_MEMORY, OVER_TIME, PointSpec
from harness.core.errors import UserError

PNG = b"\x89PNG\r\n\x1a\n"
TINY = {"repeats": 1, "threads": 1}


def test_the_profiler_peak_reads_a_known_allocation():
    """100 MB held while 100 MB more is allocated: a 200 MB peak, whatever was held before."""
    held_before = torch.ones(10_000_000)  # allocated before the pass: not the pass's memory

    def step() -> torch.Tensor:
        a = torch.ones(25_000_000)  # 100 MB
        b = a * 2  # 100 MB more while a is alive: the peak
        del a
        return b.sum()

    assert cpu_tensor_peak(step) == pytest.approx(200e6, rel=0.1)
    assert held_before.sum() > 0


def test_each_point_runs_in_a_fresh_process_with_both_memory_columns():
    frame = bench(["attention", "sdpa_reference"], [64, 128], modes=["inference"], **TINY)
    assert list(frame.columns) == list(speed.COLUMNS)
    assert len(frame) == 4 and (frame.stopped == "").all()
    assert (frame.ms_per_batch > 0).all() and (frame.tensor_peak_mb > 0).all()
    assert frame.rss_peak_mb.notna().all() and (frame.rss_peak_mb >= 0).all()
    macs = frame.set_index(["model", "length"]).macs_per_seq
    assert macs["attention", 128] > 2 * macs["attention", 64]  # full attention: quadratic in L


def test_the_rss_column_sees_a_big_enough_pass():
    point = isolate.run_point(PointSpec("dilated_cnn", 4096, 4, "inference", repeats=1))
    assert "stopped" not in point
    assert point["tensor_peak_mb"] > 8
    assert point["rss_peak_mb"] > 0.5 * point["tensor_peak_mb"]


def test_a_training_step_is_measured_beside_inference():
    frame = bench(["sdpa_reference"], [64], **TINY)
    assert list(frame["mode"]) == ["inference", "train_step"]
    train = frame.set_index("mode").loc["train_step"]
    assert train.ms_per_batch > 0 and train.tensor_peak_mb > 0


def test_a_point_over_the_memory_cap_stops_its_model_there():
    # 20 MiB: the first point's lower bound fits, the training step at 4 kb (~30 MiB) does not
    frame = bench(
        ["sdpa_reference"], [4096, 8192], modes=["train_step"], max_memory_gb=0.02, **TINY
    )
    assert list(frame.stopped) == [OUT_OF_MEMORY, OUT_OF_MEMORY]
    assert frame.ms_per_batch.isna().all()


def test_a_point_over_the_time_cap_stops_its_model_there():
    frame = bench(["sdpa_reference"], [64, 128], modes=["inference"], max_seconds=1e-6, **TINY)
    assert list(frame.stopped) == [OVER_TIME, OVER_TIME]


def _fake_points(monkeypatch, stop_at: int | None = None, mib_per_base: float = 0.0) -> list:
    """Replace the measuring process: a point at ``stop_at`` runs out of memory, every other
    one takes ``mib_per_base`` MiB per base; returns the list of points asked for."""
    asked = []

    def measure(plan, key, length, batch):
        asked.append((*key, length, batch))
        if length == stop_at:
            return {"stopped": OUT_OF_MEMORY}
        mib = mib_per_base * length * batch or 1.0
        return {"ms_per_batch": length / 100, "tensor_peak_mb": mib, "rss_peak_mb": mib}

    monkeypatch.setattr(speed, "measure_point", measure)
    return asked


def test_the_stop_rule_records_the_reason_and_skips_longer_lengths(monkeypatch):
    asked = _fake_points(monkeypatch, stop_at=256)
    plan = check_arguments(["sdpa_reference"], [64, 128, 256, 512], **TINY)
    frame = run_bench(plan).set_index(["mode", "length"])
    for mode in ("inference", "train_step"):
        assert list(frame.loc[mode].stopped) == ["", "", OUT_OF_MEMORY, OUT_OF_MEMORY]
    # the inference stop at 256 stops the training step there too: neither runs at 256+
    assert [(m, n) for _, _, m, n, _ in asked] == [
        ("inference", 64),
        ("train_step", 64),
        ("inference", 128),
        ("train_step", 128),
        ("inference", 256),
    ]


def test_the_memory_estimate_stops_before_running(monkeypatch):
    asked = _fake_points(monkeypatch, mib_per_base=1 / 128)  # 0.5 MiB at 64, 1 MiB at 128
    plan = check_arguments(
        ["sdpa_reference"], [64, 128, 256], modes=["inference"], max_memory_gb=1 / 1024, **TINY
    )
    frame = run_bench(plan)
    assert list(frame.stopped[:2]) == ["", ""]
    assert frame.stopped[2].startswith("over ") and frame.stopped[2].endswith(" GB estimate")
    assert [n for *_, n, _ in asked] == [64, 128]


def test_a_token_budget_sets_the_batch_per_length(monkeypatch):
    asked = _fake_points(monkeypatch)
    plan = check_arguments(
        ["sdpa_reference"], [64, 128, 256, 2048], modes=["inference"], token_budget=1000, **TINY
    )
    assert plan.n_points == 8
    frame = run_bench(plan)
    budget = frame[frame.setting == "budget"]
    assert list(budget.batch_size) == [15, 7, 3, 1]
    assert list(frame[frame.setting == "batch"].batch_size) == [1, 1, 1, 1]
    # at 2048 the budget's batch is the fixed batch: measured once, recorded in both settings
    assert [n for *_, n, b in asked if n == 2048] == [2048]


def test_bad_options_of_the_python_api_are_refused_too():
    with pytest.raises(UserError, match="not a torch model"):
        bench(["kmer_logreg"], [32], **TINY)
    with pytest.raises(UserError, match=r"--modes: unknown mode 'infer'.*inference, train_step"):
        bench(["attention"], [32], modes=["infer"], **TINY)


def _synthetic() -> pd.DataFrame:
    lengths = np.array([1000, 4000, 16000])
    rows = []
    for mode, power in (("inference", 1.0), ("train_step", 2.0)):
        for length in lengths:
            rows.append(
                {
                    "model": "m",
                    "mode": mode,
                    "setting": "batch",
                    "length": length,
                    "batch_size": 1,
                    "ms_per_batch": 1e-3 * length**power,
                    "tensor_peak_mb": 1e-3 * length**1.5,
                    "rss_peak_mb": 1e-2 * length,
                    "stopped": "",
                }
            )
    rows.append({**rows[-1], "length": 64000, "ms_per_batch": np.nan, "stopped": "x"})
    return pd.DataFrame(rows)


def test_loglog_slopes_per_mode_and_where_each_stopped(tmp_path):
    slopes = loglog_slopes(_synthetic()).set_index("mode")
    assert slopes.loc["inference", "time_slope"] == pytest.approx(1.0)
    assert slopes.loc["train_step", "time_slope"] == pytest.approx(2.0)
    assert slopes.loc["train_step", "tensor_memory_slope"] == pytest.approx(1.5)
    assert slopes.loc["inference", "rss_memory_slope"] == pytest.approx(1.0)
    assert slopes.loc["inference", "stopped"] == "" and slopes.loc["inference", "stopped_at"] == 0
    assert slopes.loc["train_step", "stopped"] == "x"
    assert slopes.loc["train_step", "stopped_at"] == 64000
    assert slopes.loc["train_step", "lengths"] == "1000-16000"
    png = plot_scaling(_synthetic(), tmp_path / "scaling.png")
    assert png.read_bytes()[:8] == PNG


def test_loglog_slopes_are_nan_below_two_points():
    frame = pd.DataFrame({"model": ["a"], "length": [100], "ms_per_batch": [1.0]})
    assert np.isnan(loglog_slopes(frame).time_slope[0])


def test_the_cli_logs_one_mlflow_run_with_the_table_slopes_and_plot(store, tmp_path, capsys):
    code = main(
        [
            "bench",
            "sdpa_reference",
            "sparse_transformer:keep_tokens=4",
            "--lengths",
            "64",
            "128",
            "--modes",
            "inference",
            "--repeats",
            "1",
            "--threads",
            "1",
            "--no-progress",
            "--tracking-uri",
            store,
            "--out",
            str(tmp_path / "local.csv"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("bench").experiment_id])
    assert run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
        "bench.csv",
        "slopes.csv",
        "scaling.png",
    }
    assert run.data.params["device"] == "cpu" and run.data.params["torch"] == torch.__version__
    assert "sdpa_reference" in run.data.params["models"]
    for series in ("sdpa_reference", "sparse_transformer_keep_tokens_4"):
        history = client.get_metric_history(
            run.info.run_id, f"ms_per_batch.{series}.inference.batch"
        )
        assert sorted(m.step for m in history) == [64, 128]
    local = pd.read_csv(tmp_path / "local.csv")
    assert len(local) == 4 and "sparse_transformer:keep_tokens=4" in set(local.model)
    assert run.info.run_id in capsys.readouterr().out


def test_a_token_budget_slope_reads_per_sequence(monkeypatch):
    """Batches 16, 4, 1, 1 under a 16k budget: a model linear per sequence reads slope 1."""
    _fake_points(monkeypatch)  # ms per batch = length / 100 at any batch: fake, linear per batch
    plan = check_arguments(
        ["sdpa_reference"],
        [1024, 4096, 16384, 32768],
        **TINY,
        modes=["inference"],
        token_budget=16384,
    )
    frame = run_bench(plan)
    budget = frame[frame.setting == "budget"]
    assert list(budget.batch_size) == [16, 4, 1, 1]
    # per sequence: length / 100 / batch -> a linear model would be length / 100 at any batch
    frame.loc[budget.index, "ms_per_batch"] = budget.length / 100 * budget.batch_size
    slopes = loglog_slopes(frame).set_index("setting")
    assert slopes.loc["budget", "time_slope"] == pytest.approx(1.0)
    assert slopes.loc["batch", "time_slope"] == pytest.approx(1.0)


def test_an_interrupted_bench_keeps_what_it_measured(monkeypatch, store, tmp_path, capsys):
    asked = _fake_points(monkeypatch)
    measure = speed.measure_point

    def interrupted(plan, key, length, batch):
        if asked:  # the second point: Ctrl-C
            raise KeyboardInterrupt
        return measure(plan, key, length, batch)

    monkeypatch.setattr(speed, "measure_point", interrupted)
    out = tmp_path / "partial.csv"
    argv = [
        "bench",
        "sdpa_reference",
        "--lengths",
        "64",
        "128",
        "--modes",
        "inference",
        "--no-progress",
        "--tracking-uri",
        store,
        "--out",
        str(out),
    ]
    assert main(argv) == 130  # "interrupted"
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("bench").experiment_id])
    assert run.info.status == "KILLED"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"bench.csv"}
    assert list(pd.read_csv(out).length) == [64]
