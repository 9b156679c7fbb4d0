"""Each benchmark point in a fresh process, so that its peak resident set is its own (nothing an
earlier model left in the allocator) and a point that runs out of memory or time is stopped
without taking the command with it.

On CPU the processes are forked from a fork server that has torch, the models and the profiler
loaded (:mod:`harness.bench.warm`); the server is a fresh interpreter that never ran a model, so
each child starts clean. Other devices spawn a new interpreter per point: nothing of a GPU
context may cross a fork.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext

from harness.bench.worker import OUT_OF_MEMORY, OVER_TIME, PointSpec, child_main

# Seconds a measuring process may take to build its model and inputs before its warm-up pass
# (spawned interpreters import torch and every model: a few seconds on a loaded 2-core machine).
STARTUP_SECONDS = 120.0
# A timed pass may run this many times as long as the warm-up before the point counts as hung.
_SLACK = 5.0
_KILLED = -9  # exit code of a process ended by SIGKILL (the kernel's OOM killer among others)


def _context(device: str) -> BaseContext:
    if device == "cpu":
        ctx = multiprocessing.get_context("forkserver")
        # takes effect when the server starts (first use in this process); later calls are no-ops
        ctx.set_forkserver_preload(["harness.bench.warm"])
        return ctx
    return multiprocessing.get_context("spawn")


def _receive(conn: Connection, timeout: float | None) -> tuple[str, object]:
    """The child's next message ``(kind, payload)``; ``("timed out", None)`` when none came
    within ``timeout`` seconds, ``("ended", None)`` when the child closed its end without one."""
    try:
        if not conn.poll(timeout):
            return "timed out", None
        return conn.recv()
    except (EOFError, OSError):
        return "ended", None


def _result_timeout(spec: PointSpec, warm: float) -> float | None:
    """Seconds to wait for the result once the warm-up took ``warm`` seconds (None: no cap)."""
    if spec.max_seconds is None:
        return None
    return STARTUP_SECONDS + _SLACK * (spec.repeats + 1) * max(warm, spec.max_seconds)


def run_point(spec: PointSpec) -> dict[str, object]:
    """Measure ``spec`` in a fresh process (:func:`~harness.bench.worker.child_main`).

    Returns
    -------
    the measured figures (:func:`~harness.bench.worker.measure`'s keys), or ``{"stopped":
    reason}``: ``out of memory`` (the allocator refused, or the system killed the process),
    ``over time cap`` (the warm-up pass took longer than ``spec.max_seconds``, or the process
    gave no sign of life for that long) or ``error: ...`` (the model failed, e.g. it cannot run
    at this length).
    """
    ctx = _context(spec.device)
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=child_main, args=(spec, sender), daemon=True)
    process.start()
    sender.close()  # the child holds the only writer: its death ends our reads
    try:
        first = None if spec.max_seconds is None else STARTUP_SECONDS + spec.max_seconds
        kind, payload = _receive(receiver, first)
        if kind == "warm":
            kind, payload = _receive(receiver, _result_timeout(spec, float(payload)))
        if kind == "done":
            return dict(payload)
        if kind in ("stopped", "error"):
            return {"stopped": payload if kind == "stopped" else f"error: {payload}"}
        if kind == "timed out":
            return {"stopped": OVER_TIME}
        process.join(timeout=30)  # it ended without a word: how it ended is the reason
        if process.exitcode == _KILLED:
            return {"stopped": OUT_OF_MEMORY}
        return {"stopped": f"error: the measuring process exited ({process.exitcode})"}
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
