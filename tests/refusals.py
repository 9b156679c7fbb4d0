"""The CLI's contract for bad input, shared by the malformed-input tables of every layer.

A refused input exits 2 with exactly one line on stderr (``error: ...``), no traceback, and writes
nothing: no MLflow store, no report, no file outside (or inside) the working folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.__main__ import main


def tree(root: Path) -> set[str]:
    """Every file and folder under ``root``, relative."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def assert_refused(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    root: Path,
    match: str | None = None,
) -> str:
    """Run ``main(argv)`` in ``root/work`` and check the refusal contract; returns the line.

    ``root`` is the test's ``tmp_path``: inputs live anywhere under it, the command runs in
    ``root/work``, and afterwards nothing under ``root`` may have been added or removed.
    ``match`` is a regular expression the error line must contain (``re.search``).
    """
    work = root / "work"
    work.mkdir(exist_ok=True)
    before = tree(root)
    capsys.readouterr()
    cwd = Path.cwd()
    os.chdir(work)
    try:
        code = main(argv)
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, f"exit {code} for {argv}: {captured.err[-2000:]}"
    assert "Traceback" not in captured.err, captured.err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err[-2000:]
    if match is not None:
        assert re.search(match, lines[0]), f"{match!r} not in {lines[0]!r}"
    added, removed = tree(root) - before, before - tree(root)
    assert not added and not removed, f"files changed by a refused command: +{added} -{removed}"
    return lines[0]
