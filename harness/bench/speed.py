"""``harness bench``: inference time and peak memory of the model box alone, by sequence length.

Speed and memory figures are measured here and written down; tests never assert wall-clock limits.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from harness.core.dataset import DatasetInfo
from harness.core.errors import UserError
from harness.core.model import FittedModel
from harness.core.registry import get_model

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _rss_kib(field: str) -> int | None:
    if not _STATUS.exists():
        return None
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so the next peak is this model's."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def bench_model(
    name: str,
    length: int,
    batch_size: int = 64,
    repeats: int = 5,
    task: str = "binary",
    device: str = "cpu",
    params: dict | None = None,
) -> dict[str, float | str]:
    """Time ``repeats`` forward passes over a random batch; report per-sequence figures.

    Returns
    -------
    dict with model, length, batch_size, n_params, macs_per_seq, ms_per_batch (median),
    us_per_seq, peak_mem_mb (peak RSS growth over the inputs and weights already in memory, on
    CPU; max allocated on CUDA; NaN where the kernel cannot reset its peak mark)
    """
    entry = get_model(name)
    info = DatasetInfo(length=length, task=task, n_classes=2 if task != "regression" else 1)
    torch.manual_seed(0)
    model = entry.factory(entry.params.model_validate(params or {}), info)
    if isinstance(model, FittedModel):
        raise UserError(f"bench: {name!r} is not a torch model (nothing to time)")
    model.to(device).eval()
    tokens = torch.randint(0, 4, (batch_size, length), device=device)
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    # The baseline is taken before the warm-up pass, so memory the allocator keeps for reuse
    # after it still counts towards this model's peak.
    base = _rss_kib("VmRSS")
    reset = _reset_peak()
    with torch.no_grad():
        model(tokens)  # warm-up: allocator and kernels, not timed
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(tokens)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    elif reset and base is not None:
        peak = max(_rss_kib("VmHWM") - base, 0) / 1024
    else:
        peak = float("nan")
    ms = float(np.median(times) * 1000)
    return {
        "model": name,
        "length": length,
        "batch_size": batch_size,
        "n_params": model.n_params,
        "macs_per_seq": model.macs(length),
        "ms_per_batch": ms,
        "us_per_seq": ms * 1000 / batch_size,
        "peak_mem_mb": peak,
    }


def bench(
    models: list[str],
    lengths: list[int],
    batch_size: int = 64,
    repeats: int = 5,
    device: str = "cpu",
    threads: int = 2,
) -> pd.DataFrame:
    """:func:`bench_model` for every model × length; one row each."""
    torch.set_num_threads(threads)
    rows = []
    for length in lengths:
        for name in models:
            try:
                rows.append(bench_model(name, length, batch_size, repeats, device=device))
            except torch.cuda.OutOfMemoryError:
                rows.append(
                    {
                        "model": name,
                        "length": length,
                        "batch_size": batch_size,
                        "ms_per_batch": float("nan"),
                        "peak_mem_mb": float("inf"),
                    }
                )
    return pd.DataFrame(rows)
