"""A binary cache of converted sources: one folder of ``.npy`` arrays per source, memory-mapped.

Sources stored as one file per sequence (genomic-benchmarks) are slow to read; they are
converted once and reloaded from ``$HARNESS_CACHE_DIR`` (default ``.cache/`` in the CWD). An
entry is ``<kind>/<name>-<key>/`` holding one ``<array>.npy`` per array (uint8 tokens, int64
lengths and labels, ``<U`` ids: nothing pickled) and ``manifest.json``, written last; a reload
maps the arrays (``np.load(mmap_mode="r")``) instead of reading them, so it costs a few
milliseconds whatever the size. The caller's ``key`` says which version of the source an entry
holds (the adapter decides what it covers); an entry of the same source under another key is
stale and removed when the new one is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

CACHE_ENV = "HARNESS_CACHE_DIR"
# Bump when the stored layout changes, so old entries are never misread (2: .npy folders).
FORMAT_VERSION = 2
MANIFEST = "manifest.json"

Arrays = dict[str, np.ndarray]


def cache_root() -> Path:
    """``$HARNESS_CACHE_DIR`` if set, else ``.cache`` in the current working directory."""
    return Path(os.environ.get(CACHE_ENV) or Path.cwd() / ".cache")


def fingerprint_files(names: Sequence[str], sizes: np.ndarray, mtimes_ns: np.ndarray) -> str:
    """Hash of files' relative names, sizes and modification times (format version included).

    Parameters
    ----------
    names : n relative file (or folder) names, in a fixed order
    sizes, mtimes_ns : int64 (n,)

    Returns
    -------
    16 hex characters
    """
    h = hashlib.sha256(f"v{FORMAT_VERSION}\0{len(names)}\0".encode())
    # Hashed as three blocks, not per file: this can run on 100,000-file datasets.
    h.update("\0".join(names).encode())
    h.update(np.ascontiguousarray(sizes, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(mtimes_ns, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def cache_entry(kind: str, name: str, key: str) -> Path:
    """The folder of source ``name`` (of adapter ``kind``) at version ``key``."""
    return cache_root() / kind / f"{_safe(name)}-{key}"


def read_entry(path: Path) -> Arrays | None:
    """The entry's arrays, memory-mapped read-only; None when absent, partial or foreign."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            return None
        return {k: np.load(path / f"{k}.npy", mmap_mode="r") for k in manifest["arrays"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, truncated or written by something else: rebuilt by the caller


def write_entry(path: Path, arrays: Arrays) -> None:
    """Write ``arrays`` as the entry ``path``, atomically: a reader sees all of it or nothing.

    The entry is built in a temporary sibling folder and renamed into place; an entry already
    there (stale, same key) is moved aside first. When a concurrent writer wins the rename, its
    entry (of the same source version) is kept and this one dropped.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        for key, array in arrays.items():
            np.save(tmp / f"{key}.npy", np.asarray(array), allow_pickle=False)
        manifest = {"format_version": FORMAT_VERSION, "arrays": list(arrays)}
        (tmp / MANIFEST).write_text(json.dumps(manifest))
        if path.exists():
            aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            with contextlib.suppress(OSError):
                os.replace(path, aside / "entry")
            shutil.rmtree(aside, ignore_errors=True)
        with contextlib.suppress(OSError):  # ENOTEMPTY / EEXIST: a concurrent writer won
            os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale(path: Path) -> None:
    """Remove the other entries of ``path``'s source (other keys; format-1 ``.npz`` files too).

    Processes that mapped a removed entry keep reading it: POSIX frees it when they unmap.
    """
    name = path.name.rsplit("-", 1)[0]
    pattern = re.compile(re.escape(name) + r"-[0-9a-f]{16}(\.npz)?")
    for other in path.parent.iterdir():
        if other != path and pattern.fullmatch(other.name):
            if other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
            else:
                other.unlink(missing_ok=True)


def load_or_build(
    kind: str,
    name: str,
    key: str,
    build: Callable[[], Arrays],
    still_valid: Callable[[Arrays], bool] | None = None,
) -> tuple[Arrays, Path, bool]:
    """The cached arrays of version ``key``, building (and storing) them on a miss.

    Parameters
    ----------
    build : reads the source; its arrays must hold no Python objects (strings as ``<U``)
    still_valid : a last check of a found entry against the source (e.g. a sample of file
        stamps); False rebuilds it

    Returns
    -------
    arrays : dict of name -> np.ndarray, memory-mapped read-only from the entry
    path : the entry's folder
    hit : True when read from the cache
    """
    path = cache_entry(kind, name, key)
    arrays = read_entry(path)
    if arrays is not None and (still_valid is None or still_valid(arrays)):
        return arrays, path, True
    built = build()
    write_entry(path, built)
    remove_stale(path)
    # mapped from the entry when it reads back (a concurrent writer may have replaced it)
    return read_entry(path) or built, path, False
