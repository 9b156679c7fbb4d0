"""``harness bench --gb-cache``: the Genomic Benchmarks binary cache against the package's reader.

A dataset of ``n`` generated sequences is written in the package's own layout
(``<root>/<name>/{train,test}/<class>/<i>.txt``, one sequence per file); then timed, best of
``repeats``:

- ``package_reader``: ``genomic_benchmarks``' ``GenomicClfDataset`` for train and test, every item
  read (its per-file ``open``/``read``), the way the package hands a dataset over;
- ``first_load``: the adapter's conversion (list, read and encode every file, write the cache);
- ``cache_open``: a reload from the cache (folder stamps, sampled file stamps, memory-mapped
  arrays), what every ``harness run`` pays once the cache exists;
- ``cache_read``: the same, every token byte then read from the mapping (nothing left lazy);
- ``npz_scan``: the earlier cache (format 1): every file listed and stat-ed for the key, then the
  ``.npz`` read whole (the reference for the speed-up this cache brought).

All reads hit the OS page cache (the files were just written): the figures compare the readers'
own work, not the disk.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import UserError

CLASSES = ("positive", "negative")
MIN_FILES = 20


def write_layout(root: Path, name: str, n: int, length: int = 200, seed: int = 0) -> Path:
    """``n`` random ACGT sequences of ``length`` in the package's layout (75% train, 2 classes).

    Returns
    -------
    the dataset folder ``root/name``
    """
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    for split in ("train", "test"):
        for cls in CLASSES:
            (root / name / split / cls).mkdir(parents=True, exist_ok=True)
    for k in range(n):
        split = "test" if k % 4 == 0 else "train"
        folder = root / name / split / CLASSES[(k // 4) % 2]
        (folder / f"{k}.txt").write_bytes(letters[rng.integers(0, 4, length)].tobytes())
    return root / name


def best_of(repeats: int, func: Callable[[], Any]) -> float:
    """The shortest of ``repeats`` timed calls (seconds): the least disturbed by other load."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def package_reader(root: Path, name: str) -> Callable[[], list[tuple[str, int]]]:
    """A call reading every item of the dataset through ``genomic_benchmarks``' own class."""
    # deferred: genomic-benchmarks imports torch; only this benchmark needs it
    from genomic_benchmarks.dataset_getters import pytorch_datasets  # noqa: PLC0415 (see above)

    # The package reads from its own cache folder: point it at the generated one.
    pytorch_datasets.CACHE_PATH = root
    pytorch_datasets.is_downloaded = lambda *args, **kwargs: True

    def read() -> list[tuple[str, int]]:
        items = []
        for split in ("train", "test"):
            dataset = pytorch_datasets.GenomicClfDataset(name, split)
            items += [dataset[i] for i in range(len(dataset))]
        return items

    return read


def measure_gb_cache(n_files: int = 20_000, repeats: int = 5, length: int = 200) -> dict[str, Any]:
    """Write ``n_files`` sequence files and time the readers (see the module docstring).

    Returns
    -------
    dict of seconds per reader, ``speedup_open`` / ``speedup_read`` (package reader over the
    cache), ``speedup_npz`` (package reader over the format-1 cache) and the settings
    """
    if n_files < MIN_FILES:
        raise UserError(f"--files: at least {MIN_FILES} files (got {n_files})")
    if repeats < 1:
        raise UserError(f"--repeats: at least 1 (got {repeats})")
    # by name, as the registry loads plug-ins: the harness never imports adapters statically
    gb = importlib.import_module("adapters.genomic_benchmarks")
    name = "bench_gb"
    previous = os.environ.get("HARNESS_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="harness-gb-cache-") as tmp:
        root = Path(tmp) / "data"
        os.environ["HARNESS_CACHE_DIR"] = str(Path(tmp) / "cache")
        try:
            start = time.perf_counter()
            folder = write_layout(root, name, n_files, length)
            written = time.perf_counter() - start
            items = package_reader(root, name)()
            if len(items) != n_files:
                raise RuntimeError(f"the package read {len(items)} of {n_files} files")
            start = time.perf_counter()
            gb.read_cached(folder, name)
            first = time.perf_counter() - start
            figures = {
                "package_reader": best_of(repeats, package_reader(root, name)),
                "first_load": first,
                "cache_open": best_of(repeats, lambda: gb.read_cached(folder, name)),
                "cache_read": best_of(
                    repeats, lambda: np.array(gb.read_cached(folder, name)[0]["flat"])
                ),
                "npz_scan": _npz_reference(gb, folder, Path(tmp) / "format1.npz", repeats),
            }
        finally:
            if previous is None:
                os.environ.pop("HARNESS_CACHE_DIR", None)
            else:
                os.environ["HARNESS_CACHE_DIR"] = previous
    package = figures["package_reader"]
    return {
        "n_files": n_files,
        "length": length,
        "repeats": repeats,
        "write_seconds": written,
        **{f"{k}_seconds": v for k, v in figures.items()},
        "speedup_open": package / figures["cache_open"],
        "speedup_read": package / figures["cache_read"],
        "speedup_npz": package / figures["npz_scan"],
    }


def _npz_reference(gb: Any, folder: Path, path: Path, repeats: int) -> float:
    """Seconds of a format-1 reload: list and stat every file for the key, read the ``.npz``."""
    class_names, files = gb.scan_layout(folder)
    np.savez(path, **gb.convert(folder, class_names, files))

    def reload() -> None:
        _, listed = gb.scan_layout(folder)
        gb.fingerprint_layout(listed)
        with np.load(path, allow_pickle=False) as data:
            {k: data[k] for k in data.files}

    return best_of(repeats, reload)


def gb_cache_table(figures: dict[str, Any]) -> str:
    """The figures as aligned text lines."""
    rows = [
        ("package reader (per file)", figures["package_reader_seconds"], 1.0),
        ("first load (convert + cache)", figures["first_load_seconds"], None),
        ("cache open (memory-mapped)", figures["cache_open_seconds"], figures["speedup_open"]),
        ("cache open + read all tokens", figures["cache_read_seconds"], figures["speedup_read"]),
        ("format-1 cache (stat + npz)", figures["npz_scan_seconds"], figures["speedup_npz"]),
    ]
    head = f"{figures['n_files']:,} files of {figures['length']} bp"
    lines = [f"{head}, best of {figures['repeats']}"]
    lines += [
        f"{label:<30} {seconds * 1000:>10.2f} ms" + (f"  {x:>8.1f}x" if x is not None else "")
        for label, seconds, x in rows
    ]
    return "\n".join(lines)
