"""Peak memory of one pass: tensor bytes (profiler on CPU, the caching allocator on CUDA) and the
process's resident set (Linux ``/proc``), and the limit a measuring process runs under.

Both figures are growth above what the process held before (weights, inputs): the tensor peak
above what one more pass starts with, the resident-set peak above the moment before the first
pass, so for a training step it also holds the optimizer state that first pass creates (AdamW:
twice the weights), which the tensor peak of a later pass does not.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MIB = 2**20


def status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` figure in KiB (``VmRSS``, ``VmHWM``, ``VmData``), None off Linux."""
    if not _STATUS.exists():
        return None
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def reset_rss_peak() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``, Linux >= 4.0) to the current RSS."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: this torch build's profiler prints a start and stop line
    there from C++, which would break the progress bar (only used in measuring processes)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def warm_profiler() -> None:
    """Start and stop the profiler once: its first start costs ~1.7 s, paid here once by the
    fork server instead of by every measuring process forked from it."""
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True):
        torch.zeros(1)


def cpu_tensor_peak(step: Callable[[], object]) -> float:
    """Peak CPU tensor bytes of ``step()`` above what was allocated before it.

    ``torch.profiler`` with ``profile_memory`` records every allocation and free of the CPU
    allocator as a ``[memory]`` event with its signed size; the running sum of those sizes in
    time order is the bytes held beyond the starting point, and its maximum (at least 0) is the
    peak. Tensors freed during the pass that were allocated before it count negative, so the
    figure is the growth, not the pass's total allocations.
    """
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type() == torch.autograd.DeviceType.CPU
    ]
    held = peak = 0
    for _, size in sorted(events):
        held += size
        peak = max(peak, held)
    return float(peak)


def cuda_tensor_peak(step: Callable[[], object], device: str) -> float:
    """Peak CUDA tensor bytes of ``step()`` above what was allocated before it
    (``max_memory_allocated`` after ``reset_peak_memory_stats``)."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return float(torch.cuda.max_memory_allocated(device) - before)


def tensor_peak(step: Callable[[], object], device: str) -> float:
    """Peak tensor bytes of ``step()`` on ``device`` (NaN on MPS, which reports no peak)."""
    if device.startswith("cuda"):
        return cuda_tensor_peak(step, device)
    if device == "cpu":
        return cpu_tensor_peak(step)
    step()
    return float("nan")


def limit_memory(n_bytes: int, device: str) -> None:
    """Make allocations beyond ``n_bytes`` more than this process holds now fail (an
    out-of-memory error the caller records) instead of swapping or waking the OOM killer.

    CPU: the data segment limit (``RLIMIT_DATA`` covers heap and anonymous mappings, where the
    CPU allocator puts tensors). CUDA: the caching allocator's per-process fraction of the card.
    """
    if device.startswith("cuda"):
        total = torch.cuda.get_device_properties(torch.device(device)).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, n_bytes / total), device)
        return
    data = status_kib("VmData")
    if device == "cpu" and data is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        soft = data * 1024 + n_bytes
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def is_out_of_memory(err: BaseException) -> bool:
    """An allocation failure: torch's OOM error, Python's MemoryError, or the CPU allocator's
    ``RuntimeError`` when the data limit refuses a tensor."""
    if isinstance(err, MemoryError | torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "can't allocate memory" in str(err)
