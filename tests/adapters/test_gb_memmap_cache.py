"""The Genomic Benchmarks binary cache: memory-mapped .npy folders, keyed by the layout."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import adapters.cache as cache
import adapters.genomic_benchmarks as gb
from tests.fixtures.adapters.make_fixtures import write_gb_layout


def _no_reading(*args, **kwargs):
    raise AssertionError("the source files were read although the cache is current")


def test_round_trip_is_memory_mapped_and_equal(tmp_path, private_cache, monkeypatch):
    folder = write_gb_layout(tmp_path, "demo", n_per_class=12)
    built, path = gb.read_cached(folder, "demo")
    assert (path / cache.MANIFEST).is_file() and path.parent == private_cache / "genomic_benchmarks"
    monkeypatch.setattr(gb, "convert", _no_reading)
    monkeypatch.setattr(gb, "scan_layout", _no_reading)
    again, same = gb.read_cached(folder, "demo")
    assert same == path
    assert isinstance(again["flat"], np.memmap) and again["flat"].dtype == np.uint8
    assert not again["flat"].flags.writeable  # read-only: nothing can write into the cache
    for key in ("flat", "lengths", "labels", "is_test", "ids", "class_names"):
        np.testing.assert_array_equal(built[key], again[key])
    # the tokens are the files' sequences
    text = (folder / "test" / "human" / "0.txt").read_text()
    row = again["ids"].tolist().index("test/human/0")
    start = int(np.sum(again["lengths"][:row]))
    decoded = "".join("ACGTN"[t] for t in again["flat"][start : start + again["lengths"][row]])
    assert decoded == text


def test_added_or_removed_file_rebuilds(tmp_path, private_cache):
    folder = write_gb_layout(tmp_path, "demo", n_per_class=8)
    before, path = gb.read_cached(folder, "demo")
    n = len(before["lengths"])
    (folder / "train" / "worm" / "new.txt").write_text("ACGT" * 10)
    added, added_path = gb.read_cached(folder, "demo")
    assert len(added["lengths"]) == n + 1 and "train/worm/new" in set(added["ids"].tolist())
    assert added_path != path and not path.exists()  # the stale entry is removed
    (folder / "train" / "worm" / "new.txt").unlink()
    (folder / "train" / "human" / "5.txt").unlink()
    fewer, _ = gb.read_cached(folder, "demo")
    assert len(fewer["lengths"]) == n - 1
    assert len(list(private_cache.rglob(cache.MANIFEST))) == 1


def test_sampled_file_rewritten_in_place_rebuilds(tmp_path, private_cache):
    folder = write_gb_layout(tmp_path, "demo", n_per_class=8)
    gb.read_cached(folder, "demo")
    last = sorted((folder / "train" / "worm").iterdir())[-1]  # last of its folder: sampled
    st = last.stat()
    last.write_text("C" * 40)
    os.utime(last, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again, _ = gb.read_cached(folder, "demo")
    row = again["ids"].tolist().index(f"train/worm/{last.stem}")
    start = int(np.sum(again["lengths"][:row]))
    assert set(again["flat"][start : start + 40].tolist()) == {1}  # C


@pytest.mark.parametrize("damage", ["manifest", "array", "format"])
def test_damaged_entry_is_rebuilt(tmp_path, private_cache, damage):
    folder = write_gb_layout(tmp_path, "demo", n_per_class=8)
    built, path = gb.read_cached(folder, "demo")
    expected = np.array(built["flat"])
    if damage == "manifest":
        (path / cache.MANIFEST).write_text("{not json")
    elif damage == "array":
        (path / "flat.npy").write_bytes(b"\x93NUMPY truncated")
    else:
        manifest = json.loads((path / cache.MANIFEST).read_text())
        (path / cache.MANIFEST).write_text(json.dumps({**manifest, "format_version": 1}))
    again, _ = gb.read_cached(folder, "demo")
    np.testing.assert_array_equal(again["flat"], expected)


def test_format_one_npz_entry_is_removed(tmp_path, private_cache):
    folder = write_gb_layout(tmp_path, "demo", n_per_class=8)
    _, path = gb.read_cached(folder, "demo")
    stale = path.parent / (path.name.rsplit("-", 1)[0] + "-0123456789abcdef.npz")
    stale.write_bytes(b"old")
    (folder / "test" / "human" / "extra.txt").write_text("A" * 40)
    gb.read_cached(folder, "demo")
    assert not stale.exists()


def test_load_or_build_still_valid_false_rebuilds(tmp_path, private_cache):
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(len(calls) + 2, dtype=np.int64)}

    first, _, hit = cache.load_or_build("k", "src", "0" * 16, build)
    assert not hit and first["x"].tolist() == [0, 1, 2]
    second, _, hit = cache.load_or_build("k", "src", "0" * 16, build)
    assert hit and isinstance(second["x"], np.memmap) and len(calls) == 1
    third, _, hit = cache.load_or_build("k", "src", "0" * 16, build, lambda a: False)
    assert not hit and third["x"].tolist() == [0, 1, 2, 3]
