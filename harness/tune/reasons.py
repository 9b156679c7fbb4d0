"""Failures as one short line: what trials, tags and worker reports store as their reason."""

from __future__ import annotations


def first_line(err: BaseException) -> str:
    """``"<ExceptionType>: <first line of the message>"``, at most 300 characters.

    Driver and storage errors carry whole SQL statements or tracebacks in their message; the
    first line names the problem and fits in a tag or a one-line CLI error.
    """
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
