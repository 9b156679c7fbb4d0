"""``harness bench``: inference time and peak memory of the model box alone, by sequence length.

Speed and memory figures are measured here and written down; tests never assert wall-clock limits.
Every argument is checked before the first model is built (:func:`check_arguments`), so a typo
costs a one-line error rather than a half-finished table.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from harness.core.dataset import DatasetInfo
from harness.core.devices import MAX_THREADS, resolve_device
from harness.core.errors import UserError
from harness.core.model import FittedModel
from harness.core.registry import get_model

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
# Memory one token of one sequence is assumed to take when the length bound is derived: its int64
# id plus 256 float32 activations alive at once (e.g. width 64 in four tensors). A low estimate
# for the registered models, so only lengths that cannot fit are refused; a model quadratic in
# the length can still run out below the bound (on CUDA that is recorded as a row, not an error).
BYTES_PER_TOKEN = 8 + 4 * 256


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


def _at_least_one(flag: str, value: int) -> None:
    if value < 1:
        raise UserError(f"{flag}: {value} is out of range (valid: 1 or more)")


def _check_models(models: list[str]) -> None:
    """Every name registered and a torch model (a closed-form baseline has no forward to time)."""
    if not models:
        raise UserError("models: none given (name at least one; `harness list` shows them)")
    for name in models:
        factory = get_model(name).factory  # unknown names: UserError listing the valid ones
        if isinstance(factory, type) and issubclass(factory, FittedModel):
            raise UserError(f"bench: {name!r} is not a torch model (nothing to time)")


def device_memory(device: str) -> int:
    """Bytes of memory on ``device``: the GPU's own on CUDA, else the machine's RAM (which MPS
    shares)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _size(n_bytes: float) -> str:
    """``n_bytes`` in the largest binary unit that keeps it at or above 1 (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def _check_lengths(lengths: list[int], batch_size: int, device: str) -> None:
    """Each length at least 1 and, at ``batch_size``, within the memory ``device`` has
    (estimated at :data:`BYTES_PER_TOKEN` per token)."""
    memory = device_memory(device)
    longest = memory // (batch_size * BYTES_PER_TOKEN)
    if longest < 1:
        raise UserError(
            f"--batch-size: {batch_size} does not fit {device} even at length 1: about "
            f"{_size(batch_size * BYTES_PER_TOKEN)} estimated ({BYTES_PER_TOKEN} bytes per "
            f"token), {device} has {_size(memory)} (valid: 1 to {memory // BYTES_PER_TOKEN})"
        )
    if not lengths:
        raise UserError(f"--lengths: none given (valid: 1 to {longest})")
    for length in lengths:
        if length < 1:
            raise UserError(f"--lengths: {length} is out of range (valid: 1 to {longest})")
        if length > longest:
            raise UserError(
                f"--lengths: {length} does not fit {device} at --batch-size {batch_size}: about "
                f"{_size(length * batch_size * BYTES_PER_TOKEN)} estimated ({BYTES_PER_TOKEN} "
                f"bytes per token), {device} has {_size(memory)} (valid: 1 to {longest})"
            )


def check_arguments(
    models: list[str],
    lengths: list[int],
    batch_size: int,
    repeats: int,
    device: str,
    threads: int,
) -> str:
    """Refuse bad ``harness bench`` arguments before any work; returns the concrete device.

    Raises
    ------
    UserError
        One line naming the flag and its valid range: a count below 1, an unknown or non-torch
        model, a device that is unknown or not on this machine, or a length below 1 or beyond
        the memory bound of :func:`_check_lengths`.
    """
    _at_least_one("--batch-size", batch_size)
    _at_least_one("--repeats", repeats)
    _at_least_one("--threads", threads)
    if threads > MAX_THREADS:
        raise UserError(f"--threads: {threads} is too many (valid: 1 to {MAX_THREADS})")
    _check_models(models)
    resolved = resolve_device(device, where="--device")
    _check_lengths(lengths, batch_size, resolved)
    return resolved


def bench(
    models: list[str],
    lengths: list[int],
    batch_size: int = 64,
    repeats: int = 5,
    device: str = "cpu",
    threads: int = 2,
) -> pd.DataFrame:
    """:func:`bench_model` for every model × length; one row each.

    Raises
    ------
    UserError
        Bad arguments (:func:`check_arguments`), before anything is built or timed.
    """
    device = check_arguments(models, lengths, batch_size, repeats, device, threads)
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


def loglog_slopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model, the fitted slope of log(time) and log(peak memory) against log(length).

    Parameters
    ----------
    frame : :func:`bench` rows (``model``, ``length``, ``ms_per_batch``, ``peak_mem_mb``)

    Returns
    -------
    one row per model: ``model``, ``lengths`` (``"1024-32768"``), ``time_slope``,
    ``memory_slope`` (1 = linear in length, 2 = quadratic; NaN with fewer than two finite,
    positive points)
    """
    rows = []
    for name, runs in frame.groupby("model", sort=False):
        row: dict[str, object] = {
            "model": name,
            "lengths": f"{runs['length'].min()}-{runs['length'].max()}",
        }
        for column, key in (("ms_per_batch", "time_slope"), ("peak_mem_mb", "memory_slope")):
            ok = runs[np.isfinite(runs[column]) & (runs[column] > 0)]
            row[key] = (
                float(np.polyfit(np.log(ok["length"]), np.log(ok[column]), 1)[0])
                if ok["length"].nunique() >= 2
                else float("nan")
            )
        rows.append(row)
    return pd.DataFrame(rows)
