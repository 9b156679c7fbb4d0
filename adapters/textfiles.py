"""Reading text files for the adapters: gzip by content, unreadable files as one-line errors."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from harness.core.errors import UserError

GZIP_MAGIC = b"\x1f\x8b"


def resolve_path(path: str | Path, base: Path | None = None) -> Path:
    """``path`` with ``~`` expanded, relative paths taken against ``base`` (default: the CWD)."""
    p = Path(path).expanduser()
    # normpath, not resolve: '../shared/data' reads cleanly in meta, symlinks stay as given.
    return Path(os.path.normpath(p if p.is_absolute() else (base or Path.cwd()) / p))


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a readable file, else a :class:`UserError` saying which ``what``."""
    if not path.is_file():
        hint = " (it is a directory)" if path.is_dir() else ""
        raise UserError(f"{what}: file not found: {path}{hint}")
    return path


def _open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, gunzipping by magic bytes (not by the file name)."""
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == GZIP_MAGIC:
        # GzipFile.readline is Python code; a buffer over it makes line iteration C speed.
        return io.BufferedReader(gzip.open(path, "rb"), buffer_size=1 << 20)
    return path.open("rb")


def _undecodable(path: Path) -> str:
    """The message for a file that is not UTF-8: its first such line, found by reading again."""
    try:
        with _open_binary(path) as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as err:
                    return (
                        f"{path} line {number}: not UTF-8 text (byte 0x{raw[err.start]:02x} at "
                        f"column {err.start + 1}); is it a binary file, or another encoding?"
                    )
    except (zlib.error, EOFError, OSError):
        pass  # reported on its own when the text reader gets that far
    return f"{path}: not UTF-8 text; is it a binary file, or another encoding?"


def _gzip_readable_lines(path: Path) -> int:
    """Complete lines before a gzip stream breaks, decompressed again with no read-ahead (the
    text reader's buffers run ahead of the line it last returned)."""
    lines = 0
    stream = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            while chunk:
                try:
                    lines += stream.decompress(chunk).count(b"\n")
                except zlib.error:
                    return lines
                chunk = b""
                if stream.eof:  # a gzip member ended; what follows is the next one (or junk)
                    chunk, stream = stream.unused_data, zlib.decompressobj(wbits=31)
    return lines


def _gzip_problem(path: Path, err: BaseException) -> str:
    """The one-line message of a gzip stream that cannot be read to its end."""
    line = _gzip_readable_lines(path) + 1
    if isinstance(err, EOFError):
        return (
            f"{path} line {line}: truncated gzip file, the compressed data stops there "
            "(an interrupted download or copy?); fetch or compress it again"
        )
    kind = "zlib.error" if isinstance(err, zlib.error) else type(err).__name__
    first = (str(err).splitlines() or [""])[0]
    return f"{path} line {line}: corrupt gzip data ({kind}: {first}); fetch or compress it again"


def read_lines(path: Path, what: str) -> Iterator[str]:
    """Every line of a UTF-8 text file (gzip transparent), line ending kept.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (as the csv module wants); a leading
    byte-order mark is dropped. An unreadable file is refused as a one-line :class:`UserError`
    naming the line it breaks on: not UTF-8 (:class:`UnicodeDecodeError`), a corrupt gzip
    stream (``zlib.error``, :class:`gzip.BadGzipFile`), a truncated one (:class:`EOFError`),
    or any other read failure (:class:`OSError`).
    """
    require_file(path, what)
    try:
        with io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="") as fh:
            yield from fh
    except UnicodeDecodeError:
        raise UserError(_undecodable(path)) from None
    except (zlib.error, EOFError, gzip.BadGzipFile) as err:
        raise UserError(_gzip_problem(path, err)) from None
    except OSError as err:
        raise UserError(f"{what}: cannot read {path} ({err.strerror or err})") from None
