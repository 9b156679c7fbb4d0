"""A binary cache of converted sources (``np.savez`` files keyed by a source fingerprint).

Sources stored as one file per sequence (genomic-benchmarks) are slow to read; they are
converted once and reloaded from ``$HARNESS_CACHE_DIR`` (default ``.cache/`` in the CWD). The
fingerprint covers every source file's relative name, size and modification time, so editing,
adding or removing a file gives a new key and the stale entry is replaced.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

CACHE_ENV = "HARNESS_CACHE_DIR"
# Bump when the stored layout changes, so old entries are never misread.
FORMAT_VERSION = 1


def cache_root() -> Path:
    """``$HARNESS_CACHE_DIR`` if set, else ``.cache`` in the current working directory."""
    return Path(os.environ.get(CACHE_ENV) or Path.cwd() / ".cache")


def fingerprint_files(names: Sequence[str], sizes: np.ndarray, mtimes_ns: np.ndarray) -> str:
    """Hash of the source files' relative names, sizes and modification times.

    Parameters
    ----------
    names : n relative file names (in a fixed order)
    sizes, mtimes_ns : int64 (n,)

    Returns
    -------
    16 hex characters
    """
    h = hashlib.sha256(f"v{FORMAT_VERSION}\0{len(names)}\0".encode())
    # Hashed as three blocks, not per file: this runs on every load of 100,000-file datasets.
    h.update("\0".join(names).encode())
    h.update(np.ascontiguousarray(sizes, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(mtimes_ns, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def cache_file(kind: str, name: str, fingerprint: str) -> Path:
    """Where the entry of source ``name`` (of adapter ``kind``) with ``fingerprint`` lives."""
    return cache_root() / kind / f"{_safe(name)}-{fingerprint}.npz"


def load_or_build(
    kind: str, name: str, fingerprint: str, build: Callable[[], dict[str, np.ndarray]]
) -> tuple[dict[str, np.ndarray], Path, bool]:
    """The cached arrays for this fingerprint, building (and storing) them on a miss.

    Returns
    -------
    arrays : dict of name -> np.ndarray (no pickled objects: strings are stored as ``<U``)
    path : the cache file
    hit : True when read from the cache
    """
    path = cache_file(kind, name, fingerprint)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}, path, True
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # a truncated or foreign file: rebuild it below
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temp file and rename, so a crash or a concurrent run never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    # Entries of the same source with another fingerprint are stale now.
    pattern = re.compile(re.escape(_safe(name)) + r"-[0-9a-f]{16}\.npz")
    for stale in path.parent.glob("*.npz"):
        if stale != path and pattern.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    return arrays, path, False
