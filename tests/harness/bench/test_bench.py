"""``harness bench`` measures; it asserts nothing about speed, only that figures are produced."""

from __future__ import annotations

import numpy as np
import pytest

from harness.bench.speed import bench
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
