"""Named fault points, so tests can kill a study at a chosen place and check that it resumes.

``HARNESS_FAULT_AT=<point>[:<n>]`` makes the process SIGKILL itself the ``n``-th time (default
the first) it passes :func:`fault_point` with that name: no cleanup, no ``finally`` blocks,
exactly like ``kill -9`` or a lost machine. Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "HARNESS_FAULT_AT"
_passed: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Die here if ``$HARNESS_FAULT_AT`` names this point (and this is its ``n``-th pass)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)
