"""Which process runs a trial or a run, and whether that process is still alive.

Each claimed trial records its worker as user attributes (each MLflow run of ``harness run`` as
tags, with a ``heartbeat``): ``worker_host`` (host name),
``worker_pid``, ``worker_start`` (the process start time, field 22 of ``/proc/<pid>/stat``, in
clock ticks since boot) and ``worker_scope`` (the boot id and PID namespace, within which PIDs are
comparable). A worker that finds a RUNNING trial of its own host and scope whose process is gone
knows the trial is dead at once: no heartbeat grace period to wait for. The start time guards
against PID reuse (a new process with the old number is not the old worker). Without ``/proc``
(macOS) only ``os.kill(pid, 0)`` is asked, and the start time and scope are left empty.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST_ATTR = "worker_host"
PID_ATTR = "worker_pid"
START_ATTR = "worker_start"
SCOPE_ATTR = "worker_scope"
WORKER_ATTRS = (HOST_ATTR, PID_ATTR, START_ATTR, SCOPE_ATTR)

# a zombie has exited and only waits for its parent to read its status; X is dead
DEAD_STATES = frozenset("ZX")


@dataclass(frozen=True)
class WorkerId:
    """One worker process: where it runs, its PID and what makes the PID unambiguous.

    Attributes
    ----------
    host : the host name
    pid : the process id
    start : start time in clock ticks since boot (``/proc/<pid>/stat`` field 22); None without /proc
    scope : boot id and PID namespace; PIDs of two workers compare only when these match
    """

    host: str
    pid: int
    start: int | None
    scope: str | None

    def attrs(self) -> dict[str, Any]:
        """The trial user attributes that record this worker (None values left out)."""
        values = (self.host, self.pid, self.start, self.scope)
        return {k: v for k, v in zip(WORKER_ATTRS, values, strict=True) if v is not None}

    def label(self) -> str:
        return f"{self.host}:{self.pid}"


def proc_stat(pid: int) -> tuple[str, int] | None:
    """``(state, start time)`` of a process from ``/proc/<pid>/stat``; None when unreadable.

    The command name (field 2) may hold spaces and parentheses, so the fields are counted from
    the last ``)``: state is field 3, start time field 22.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_scope() -> str | None:
    """This kernel's boot id and this process's PID namespace; None without ``/proc``."""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    return None


def this_worker() -> WorkerId:
    """The calling process (read anew each time: a forked child has its own PID)."""
    pid = os.getpid()
    stat = proc_stat(pid)
    return WorkerId(socket.gethostname(), pid, stat[1] if stat else None, pid_scope())


def _as_int(value: Any) -> int | None:
    # trial attributes keep ints; MLflow tags are text
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def worker_of(user_attrs: dict[str, Any]) -> WorkerId | None:
    """The worker a trial (or run) recorded, or None (a trial from before these attributes, a
    retry that has not been claimed yet, or malformed values)."""
    host, pid = user_attrs.get(HOST_ATTR), _as_int(user_attrs.get(PID_ATTR))
    if not isinstance(host, str) or pid is None:
        return None
    scope = user_attrs.get(SCOPE_ATTR)
    return WorkerId(
        host,
        pid,
        _as_int(user_attrs.get(START_ATTR)),
        scope if isinstance(scope, str) and scope else None,
    )


def same_machine(worker: WorkerId, here: WorkerId) -> bool:
    """True when ``worker``'s PID can be looked up from ``here``: same host, boot and PID
    namespace. Two containers may share a host name; a reboot reuses every PID."""
    return worker.host == here.host and worker.scope == here.scope


def process_gone(worker: WorkerId) -> bool:
    """True when ``worker`` (a process of this machine) has certainly exited.

    Gone: no such PID; a zombie (exited, not yet reaped by its parent, e.g. a ``workers: N``
    child); or a different start time (the PID was reused by a newer process). When in doubt
    (a PID of another user, ``/proc`` unreadable) it counts as alive and the heartbeat decides.
    """
    stat = proc_stat(worker.pid)  # world-readable: works for another user's PID too
    if stat is not None:
        state, start = stat
        return state in DEAD_STATES or (worker.start is not None and start != worker.start)
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def dead_worker(user_attrs: dict[str, Any], here: WorkerId) -> WorkerId | None:
    """The recorded worker of a trial if it ran on this machine and its process is gone."""
    worker = worker_of(user_attrs)
    if worker is None or not same_machine(worker, here):
        return None
    return worker if process_gone(worker) else None


# ------------------------------------------------------------------ runs of `harness run`
def owner_tags() -> dict[str, str]:
    """This process as MLflow run tags: the worker attributes and a ``heartbeat`` (epoch s)."""
    attrs = {k: str(v) for k, v in this_worker().attrs().items()}
    return {**attrs, "heartbeat": f"{time.time():.0f}"}


def owner_alive(tags: dict[str, str], grace_seconds: float) -> bool:
    """Whether the process a run's :func:`owner_tags` name may still be running: certain on
    this machine (its PID); elsewhere, while its ``heartbeat`` is younger than ``grace_seconds``."""
    worker, here = worker_of(tags), this_worker()
    if worker is not None and same_machine(worker, here):
        return not process_gone(worker)
    try:
        return time.time() - float(tags.get("heartbeat", "")) < grace_seconds
    except ValueError:
        return False
