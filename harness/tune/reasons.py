"""Failures as one short line: what trials, tags and worker reports store as their reason."""

from __future__ import annotations

from harness.core.errors import failure_reason


def first_line(err: BaseException) -> str:
    """``"<ExceptionType>: <first line of the message>"`` (a divergence: its message alone), at
    most 300 characters.

    Driver and storage errors carry whole SQL statements or tracebacks in their message; the
    first line names the problem and fits in a tag or a one-line CLI error.
    """
    lines = failure_reason(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:300]
