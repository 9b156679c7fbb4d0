"""``harness bench`` measures; it asserts nothing about speed, only that figures are produced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.bench.plots import plot_scaling
from harness.bench.speed import bench, loglog_slopes
from harness.core.errors import UserError


def test_bench_reports_time_memory_and_macs_per_model_and_length():
    frame = bench(["attention", "sparse_attention"], [64, 128], batch_size=4, repeats=2, threads=1)
    assert len(frame) == 4
    assert (frame.ms_per_batch > 0).all()
    assert np.isfinite(frame.us_per_seq).all()
    macs = frame.set_index(["model", "length"]).macs_per_seq
    # full attention is quadratic in L: doubling L more than doubles its MACs
    assert macs["attention", 128] > 2 * macs["attention", 64]
    assert macs["sparse_attention", 128] < macs["attention", 128]


def test_bench_refuses_models_without_a_forward_pass():
    with pytest.raises(UserError, match="not a torch model"):
        bench(["kmer_logreg"], [32], batch_size=2, repeats=1, threads=1)


def test_loglog_slopes_recover_the_power_of_length_and_the_plot_is_written(tmp_path):
    lengths = np.array([1000, 4000, 16000])
    frame = pd.DataFrame(
        {
            "model": ["quadratic"] * 3 + ["linear"] * 3 + ["single"] * 3,
            "length": np.tile(lengths, 3),
            "ms_per_batch": np.r_[1e-6 * lengths**2.0, 3e-3 * lengths, [5.0, 5.0, float("nan")]],
            "peak_mem_mb": np.r_[2e-3 * lengths, 1e-5 * lengths**1.5, [float("inf")] * 3],
        }
    )
    slopes = loglog_slopes(frame).set_index("model")
    assert slopes.loc["quadratic", "time_slope"] == pytest.approx(2.0)
    assert slopes.loc["quadratic", "memory_slope"] == pytest.approx(1.0)
    assert slopes.loc["linear", "time_slope"] == pytest.approx(1.0)
    assert slopes.loc["linear", "memory_slope"] == pytest.approx(1.5)
    assert slopes.loc["single", "time_slope"] == pytest.approx(0.0)  # two finite points
    assert np.isnan(slopes.loc["single", "memory_slope"])  # out of memory everywhere
    png = plot_scaling(frame, tmp_path / "scaling.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
