"""Genomic Benchmarks datasets (Grešová et al. 2023), e.g. ``demo_human_or_worm``.

The package stores a downloaded dataset as ``<root>/<name>/{train,test}/<class>/*.txt``, one
sequence per file (root: ``~/.genomic_benchmarks``). That layout is read from the package's cache
or from a ``path:`` copy, converted once into a binary cache (:mod:`adapters.cache`: uint8
tokens, memory-mapped) and reloaded from there while the layout is unchanged: the key is the split
and class folders' mtimes (files added, removed or renamed), and a sample of files' sizes and mtimes
is checked on every hit, so a reload never lists or reads the sequence files. The official
train/test split is kept; validation is carved from train. Labels are the sorted class folder
names.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import numpy as np
from pydantic import Field

from adapters.cache import fingerprint_files, load_or_build
from adapters.sequences import (
    CommonParams,
    Encoded,
    build_dataset,
    encode_batch,
    task_for,
)
from adapters.textfiles import resolve_path
from harness.core.dataset import SequenceDataset
from harness.core.errors import UserError
from harness.core.registry import register_adapter, suggest

# TSS position (0-based) in datasets whose windows are anchored on it.
KNOWN_TSS = {"human_nontata_promoters": 200}
OFFICIAL_SPLITS = ("train", "test")
# Files per class folder whose size and mtime every cache hit checks (first, last, evenly spaced).
SAMPLE_PER_FOLDER = 16
# Hosts the package contacts when downloading (metadata on GitHub, sequences on Zenodo).
DOWNLOAD_HOSTS = ("raw.githubusercontent.com", "zenodo.org")


class GenomicBenchmarksParams(CommonParams):
    name: str = Field(
        "demo_human_or_worm",
        min_length=1,
        description="dataset name in the genomic-benchmarks package",
    )
    path: str | None = Field(
        None,
        description="folder holding <name>/{train,test}/<class>/*.txt (or that dataset folder "
        "itself); default: the package cache ~/.genomic_benchmarks",
    )
    download: bool = Field(
        False,
        description="download with the package when not cached (needs internet; fails fast "
        "with a clear error when offline)",
    )
    tss_index: int | None = Field(
        None,
        ge=0,
        description="0-based TSS position of every sequence; default known ones "
        "(human_nontata_promoters: 200)",
    )


def package_cache_path() -> Path:
    """The genomic-benchmarks package's own cache folder (``~/.genomic_benchmarks``)."""
    from genomic_benchmarks.utils.paths import CACHE_PATH  # noqa: PLC0415  (deferred: ~0.8 s, only when a GB dataset is read)

    return Path(CACHE_PATH)


def known_datasets() -> list[str]:
    """Dataset names the package can download (read offline from its own table)."""
    from genomic_benchmarks.data_check import list_datasets  # noqa: PLC0415  (deferred: ~0.8 s, only when a GB dataset is read)

    return sorted(list_datasets())


def download_command(name: str) -> str:
    return (
        'python -c "from genomic_benchmarks.loc2seq import download_dataset; '
        f"download_dataset('{name}')\""
    )


def check_reachable(hosts: tuple[str, ...], timeout: float = 5.0) -> None:
    """Fail fast (UserError) when a download host cannot be reached, instead of hanging."""
    for host in hosts:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
        except OSError as err:
            raise UserError(
                f"genomic_benchmarks: cannot reach {host} to download ({err}); download once on "
                "a machine with internet, or give path: to a copy"
            ) from None


def download(name: str, cache: Path) -> Path:
    """Download ``name`` with the package into ``cache``; any failure is one-line UserError."""
    check_reachable(DOWNLOAD_HOSTS)
    from genomic_benchmarks.loc2seq import download_dataset  # noqa: PLC0415  (deferred: ~0.8 s, only when a GB dataset is read)

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # the package's urllib calls have no timeout of their own
    try:
        download_dataset(name, dest_path=cache)
    except Exception as err:  # any network or archive failure is the user's to fix
        first = (str(err).splitlines() or [""])[0]
        raise UserError(
            f"genomic_benchmarks: downloading {name!r} failed ({type(err).__name__}: {first}); "
            f"run {download_command(name)} with internet, or give path:"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return cache / name


def has_layout(folder: Path) -> bool:
    return all((folder / s).is_dir() for s in OFFICIAL_SPLITS)


def locate(params: GenomicBenchmarksParams) -> Path:
    """The dataset folder holding ``train/`` and ``test/``, downloading only if asked."""
    name = params.name
    if params.path is not None:
        root = resolve_path(params.path)
        for candidate in (root / name, root):
            if has_layout(candidate):
                return candidate
        raise UserError(
            f"genomic_benchmarks: no {name}/train and {name}/test folders under {root} "
            f"(expected {root}/{name}/{{train,test}}/<class>/*.txt)"
        )
    from genomic_benchmarks.data_check import is_downloaded  # noqa: PLC0415  (deferred: ~0.8 s, only when a GB dataset is read)

    cache = package_cache_path()
    if is_downloaded(name, cache_path=cache) and has_layout(cache / name):
        return cache / name
    known = known_datasets()
    if name not in known:
        raise UserError(
            f"genomic_benchmarks: unknown dataset {name!r}{suggest(name, known)} "
            f"(valid: {', '.join(known)})"
        )
    if params.download:
        folder = download(name, cache)
        if has_layout(folder):
            return folder
        raise UserError(f"genomic_benchmarks: download of {name!r} left no train/test in {folder}")
    raise UserError(
        f"genomic_benchmarks: dataset {name!r} is not downloaded (looked in {cache / name}); "
        f"download it once with internet: {download_command(name)}, or set download: true, "
        f"or give path: to a folder with {name}/{{train,test}}/<class>/*.txt"
    )


def scan_layout(folder: Path) -> tuple[list[str], list[tuple[str, str, os.DirEntry]]]:
    """Class names and every sequence file, in a deterministic order.

    Returns
    -------
    class_names : sorted class folder names (the same in train and test)
    files : (split, class, entry) for every ``*.txt``, sorted by split, class, file name
    """
    classes: dict[str, list[str]] = {}
    for split in OFFICIAL_SPLITS:
        classes[split] = sorted(e.name for e in os.scandir(folder / split) if e.is_dir())
    if classes["train"] != classes["test"]:
        raise UserError(
            f"{folder}: train classes {classes['train']} differ from test classes {classes['test']}"
        )
    files = []
    for split in OFFICIAL_SPLITS:
        for cls in classes[split]:
            entries = [e for e in os.scandir(folder / split / cls) if e.name.endswith(".txt")]
            files += [(split, cls, e) for e in sorted(entries, key=lambda e: e.name)]
    if not files:
        raise UserError(f"{folder}: no *.txt sequence files under train/<class>/ or test/<class>/")
    return classes["train"], files


def read_sequence_file(path: Path) -> str:
    """The one sequence of a ``*.txt`` file, stripped; unreadable bytes are a UserError."""
    try:
        return path.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError as err:
        raise UserError(
            f"{path}: not UTF-8 text (byte {err.start + 1}); a sequence file holds one DNA line"
        ) from None
    except OSError as err:
        raise UserError(f"genomic_benchmarks: cannot read {path} ({err.strerror or err})") from None


def convert(
    folder: Path, class_names: list[str], files: list[tuple[str, str, os.DirEntry]]
) -> dict[str, np.ndarray]:
    """Read every sequence file once and encode it: the arrays stored in the binary cache."""
    ids = [f"{split}/{cls}/{e.name[: -len('.txt')]}" for split, cls, e in files]
    seqs = [read_sequence_file(Path(e.path)) for _, _, e in files]
    enc = encode_batch(seqs, lambda i: str(folder / f"{ids[i]}.txt"))
    index = {c: k for k, c in enumerate(class_names)}
    return {
        "flat": enc.flat,
        "lengths": enc.lengths,
        "n_ambiguous": np.array(enc.n_ambiguous, dtype=np.int64),
        "labels": np.array([index[cls] for _, cls, _ in files], dtype=np.int64),
        "is_test": np.array([split == "test" for split, _, _ in files], dtype=bool),
        "ids": np.array(ids, dtype=str),
        "class_names": np.array(class_names, dtype=str),
    }


def layout_key(folder: Path) -> str:
    """The cache key of a dataset folder: its split and class folders' names and mtimes.

    A folder's mtime moves whenever a file in it is added, removed or renamed (a re-download,
    an editor's save-by-rename), so the key follows the layout without listing or reading the
    tens of thousands of sequence files; a file rewritten in place is caught by the sampled
    stamps (:func:`sample_stamps`) when it is among them.
    """
    names, mtimes = [], []
    for split in OFFICIAL_SPLITS:
        top = folder / split
        names.append(split)
        mtimes.append(top.stat().st_mtime_ns)
        for entry in sorted(os.scandir(top), key=lambda e: e.name):
            if entry.is_dir():
                names.append(f"{split}/{entry.name}")
                mtimes.append(entry.stat().st_mtime_ns)
    zeros = np.zeros(len(names), dtype=np.int64)
    return fingerprint_files(names, zeros, np.array(mtimes, dtype=np.int64))


def sample_stamps(files: list[tuple[str, str, os.DirEntry]]) -> dict[str, np.ndarray]:
    """Name, size and mtime of a sample of the files (each class folder's first and last and
    up to ``SAMPLE_PER_FOLDER`` evenly spaced): checked on every cache hit, a few stats."""
    by_folder: dict[tuple[str, str], list[os.DirEntry]] = {}
    for split, cls, entry in files:
        by_folder.setdefault((split, cls), []).append(entry)
    names, sizes, mtimes = [], [], []
    for (split, cls), entries in by_folder.items():
        picks = np.unique(np.linspace(0, len(entries) - 1, SAMPLE_PER_FOLDER).round().astype(int))
        for i in picks:
            st = entries[i].stat()
            names.append(f"{split}/{cls}/{entries[i].name}")
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
    return {
        "sample_names": np.array(names, dtype=str),
        "sample_sizes": np.array(sizes, dtype=np.int64),
        "sample_mtimes": np.array(mtimes, dtype=np.int64),
    }


def samples_unchanged(folder: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Whether every sampled file still has the size and mtime the cache entry recorded."""
    for name, size, mtime in zip(
        arrays["sample_names"], arrays["sample_sizes"], arrays["sample_mtimes"], strict=True
    ):
        try:
            st = os.stat(folder / str(name))
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


def fingerprint_layout(files: list[tuple[str, str, os.DirEntry]]) -> str:
    """Fingerprint of every sequence file's relative name, size and mtime (recorded in meta
    when the entry is built: what exactly was converted)."""
    stats = [entry.stat() for _, _, entry in files]
    return fingerprint_files(
        [f"{split}/{cls}/{entry.name}" for split, cls, entry in files],
        np.fromiter((st.st_size for st in stats), dtype=np.int64, count=len(stats)),
        np.fromiter((st.st_mtime_ns for st in stats), dtype=np.int64, count=len(stats)),
    )


def read_cached(folder: Path, name: str) -> tuple[dict[str, np.ndarray], Path]:
    """The dataset folder's arrays from the binary cache (memory-mapped), converting the
    sequence files first when the layout changed since the entry was written.

    Returns
    -------
    arrays : flat (uint8 tokens), lengths, n_ambiguous, labels, is_test, ids, class_names,
        source_fingerprint and the sampled stamps
    path : the cache entry's folder
    """

    def build() -> dict[str, np.ndarray]:
        class_names, files = scan_layout(folder)
        arrays = convert(folder, class_names, files)
        fingerprint = np.array(fingerprint_layout(files), dtype=str)
        return {**arrays, **sample_stamps(files), "source_fingerprint": fingerprint}

    # The folder is part of the cache name: two copies of one dataset never evict each other.
    where_from = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
    arrays, path, _ = load_or_build(
        "genomic_benchmarks",
        f"{name}-{where_from}",
        layout_key(folder),
        build,
        lambda found: samples_unchanged(folder, found),
    )
    return arrays, path


@register_adapter("genomic_benchmarks", GenomicBenchmarksParams)
def load(params: GenomicBenchmarksParams, seed: int) -> SequenceDataset:
    """A genomic-benchmarks dataset (official train/test; val carved from train)."""
    folder = locate(params)
    arrays, cache_path = read_cached(folder, params.name)
    class_names = [str(c) for c in arrays["class_names"]]
    fingerprint = str(arrays["source_fingerprint"])
    enc = Encoded(arrays["flat"], arrays["lengths"], int(arrays["n_ambiguous"]))
    labels = arrays["labels"]
    ids = arrays["ids"]
    is_test = arrays["is_test"]
    task = task_for(len(class_names), str(folder))
    tss = params.tss_index if params.tss_index is not None else KNOWN_TSS.get(params.name)
    meta = {
        "source": f"genomic_benchmarks/{params.name}",
        "name": params.name,
        "path": str(folder),
        "files": [str(folder / s) for s in OFFICIAL_SPLITS],
        "class_names": class_names,
        "cache_file": str(cache_path),
        "source_fingerprint": fingerprint,
        "tss_index": tss,
    }
    return build_dataset(
        enc=enc,
        labels=labels,
        ids=ids,
        split={"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)},
        task=task,
        params=params,
        seed=seed,
        meta=meta,
        where=lambda i: str(folder / f"{ids[i]}.txt"),
        tss_index=None if tss is None else np.full(len(labels), tss, dtype=np.int64),
    )
