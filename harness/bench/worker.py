"""One benchmark point, measured in the process that runs it: build the model and a random batch,
run the pass once to warm up, time ``repeats`` more, then read the peak memory.

:func:`child_main` is what a fresh measuring process runs (:mod:`harness.bench.isolate` starts
it); :func:`measure` is the measurement itself, callable in any process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

import numpy as np
import torch

from harness.bench.memory import (
    MIB,
    is_out_of_memory,
    limit_memory,
    reset_rss_peak,
    status_kib,
    tensor_peak,
)
from harness.bench.specs import parse_model_spec
from harness.core.dataset import DatasetInfo
from harness.core.model import FittedModel, SequenceModel, task_loss
from harness.core.registry import get_model

OUT_OF_MEMORY = "out of memory"
OVER_TIME = "over time cap"
# The learning rate of the timed optimizer step: its value changes no cost, only the weights.
_LR = 1e-4
# Length of the throw-away pass run before the resident-set baseline is read: it loads kernels
# and thread pools (~15 MiB that would otherwise count towards every point) while leaving
# little in the allocator for the measured pass to reuse.
_PRIMER_LENGTH = 256


class OverTimeCap(Exception):
    """The warm-up pass took longer than the point's time cap."""


@dataclass(frozen=True)
class PointSpec:
    """What one measurement runs: plain data, so it can be sent to a measuring process."""

    model: str
    length: int
    batch_size: int
    mode: str
    repeats: int = 3
    device: str = "cpu"
    threads: int = 1
    max_seconds: float | None = None
    max_memory_bytes: int | None = None
    task: str = "binary"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


def build(spec: PointSpec) -> SequenceModel:
    """The registered model at the spec's parameters (:mod:`harness.bench.specs`; defaults for
    the rest), weights seeded, on the spec's device."""
    name, params = parse_model_spec(spec.model)
    entry = get_model(name)
    n_classes = 1 if spec.task == "regression" else 2
    info = DatasetInfo(length=spec.length, task=spec.task, n_classes=n_classes)
    torch.manual_seed(0)
    model = entry.factory(entry.params.model_validate(params), info)
    if isinstance(model, FittedModel):
        raise TypeError(f"{spec.model!r} is not a torch model (nothing to time)")
    return model.to(spec.device)


def make_step(model: SequenceModel, spec: PointSpec) -> Callable[[], None]:
    """The pass a point times: a forward without gradients (``inference``), or a forward, the
    training loss (task loss and the model's extra terms), backward and an AdamW step
    (``train_step``)."""
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (spec.batch_size, spec.length), generator=gen).to(spec.device)
    if spec.mode == "inference":
        model.eval()

        def infer() -> None:
            with torch.no_grad():
                model(tokens)
            _sync(spec.device)

        return infer
    model.train()
    targets = torch.zeros(spec.batch_size, device=spec.device)
    optimizer = torch.optim.AdamW(model.param_groups(_LR), lr=_LR)

    def train() -> None:
        outputs = model(tokens)
        loss = task_loss(spec.task, outputs, targets)
        for term in model.extra_loss(tokens, outputs, targets).values():
            loss = loss + term
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(spec.device)

    return train


def measure(
    spec: PointSpec, on_warm: Callable[[float], None] | None = None
) -> dict[str, float | int]:
    """Time and peak memory of one (model, length, batch, mode) point in this process.

    Parameters
    ----------
    spec : the point
    on_warm : told the warm-up pass's seconds as soon as it is known (the parent's time cap)

    Returns
    -------
    ``n_params``, ``macs_per_seq``, ``ms_per_batch`` (median of ``repeats`` passes after one
    warm-up), ``us_per_seq``, ``tensor_peak_mb`` (peak tensor MiB of one further pass above
    what was held before it: :func:`~harness.bench.memory.tensor_peak`), ``rss_peak_mb``
    (growth of the peak resident set over the warm-up and timed passes above the resident set
    just before them, MiB, after a throw-away pass at a short length has loaded the libraries;
    NaN where the kernel cannot reset its peak mark)

    Raises
    ------
    OverTimeCap
        The warm-up pass took longer than ``spec.max_seconds``.
    """
    primer = replace(spec, length=min(spec.length, _PRIMER_LENGTH), batch_size=1)
    make_step(build(primer), primer)()
    model = build(spec)
    step = make_step(model, spec)
    base = status_kib("VmRSS")
    reset = reset_rss_peak()
    start = time.perf_counter()
    step()  # warm-up: allocator, kernels, optimizer state; not timed
    warm = time.perf_counter() - start
    if on_warm is not None:
        on_warm(warm)
    if spec.max_seconds is not None and warm > spec.max_seconds:
        raise OverTimeCap(f"{warm:.1f} s")
    times = []
    for _ in range(spec.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    high = status_kib("VmHWM")
    rss = max(high - base, 0) / 1024 if reset and base is not None and high is not None else np.nan
    ms = float(np.median(times) * 1000)
    return {
        "n_params": model.n_params,
        "macs_per_seq": model.macs(spec.length),
        "ms_per_batch": ms,
        "us_per_seq": ms * 1000 / spec.batch_size,
        "tensor_peak_mb": tensor_peak(step, spec.device) / MIB,
        "rss_peak_mb": float(rss),
    }


def child_main(spec: PointSpec, conn: Connection) -> None:
    """Entry point of a measuring process: sends ``("warm", seconds)`` after the warm-up, then
    one of ``("done", row)``, ``("stopped", reason)`` or ``("error", one line)``."""
    torch.set_num_threads(spec.threads)
    try:
        if spec.max_memory_bytes is not None:
            limit_memory(spec.max_memory_bytes, spec.device)
        row = measure(spec, on_warm=lambda seconds: conn.send(("warm", seconds)))
        conn.send(("done", row))
    except OverTimeCap:
        conn.send(("stopped", OVER_TIME))
    except Exception as err:  # reported to the parent, which records the point and goes on
        if is_out_of_memory(err):
            conn.send(("stopped", OUT_OF_MEMORY))
        else:
            first = (str(err).strip().splitlines() or [""])[0]
            conn.send(("error", f"{type(err).__name__}: {first}"[:300]))
    finally:
        conn.close()
