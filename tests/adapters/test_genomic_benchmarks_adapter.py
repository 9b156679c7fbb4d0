"""The genomic_benchmarks adapter: on-disk layout via path:, binary cache, offline errors."""

from __future__ import annotations

import json
import os
import shutil
import socket

import numpy as np
import pytest

import adapters.genomic_benchmarks as gb
from adapters.encoding import decode
from harness.core.errors import UserError
from tests.fixtures.adapters.make_fixtures import write_gb_layout


def test_layout_from_path(fx, load_adapter):
    ds = load_adapter("genomic_benchmarks", name="tiny_gb", path=str(fx / "gb"), val_fraction=0.25)
    assert ds.task == "binary" and ds.meta["class_names"] == ["human", "worm"]
    assert ds.meta["n_classes"] == 2 and ds.length == 40
    # Official test kept: 2 per class; val carved from the 12 training files, stratified.
    test_ids = sorted(ds.ids[ds.split["test"]].tolist())
    assert test_ids == ["test/human/0", "test/human/1", "test/worm/8", "test/worm/9"]
    assert len(ds.split["train"]) == 9 and len(ds.split["val"]) == 3
    assert all(i.startswith("train/") for i in ds.ids[ds.split["val"]])
    first = (fx / "gb" / "tiny_gb" / "test" / "human" / "0.txt").read_text()
    assert decode(ds.tokens[ds.ids == "test/human/0"])[0] == first
    assert ds.labels[ds.ids == "test/worm/8"].tolist() == [1]
    json.dumps(ds.meta)


def test_path_may_be_the_dataset_folder(fx, load_adapter):
    ds = load_adapter("genomic_benchmarks", name="tiny_gb", path=str(fx / "gb" / "tiny_gb"))
    assert len(ds.tokens) == 16


def test_multiclass(tmp_path, load_adapter):
    write_gb_layout(tmp_path, "three", n_per_class=8, classes=("a", "b", "c"))
    ds = load_adapter("genomic_benchmarks", name="three", path=str(tmp_path))
    assert ds.task == "multiclass" and ds.meta["class_names"] == ["a", "b", "c"]


def test_second_load_comes_from_the_cache(tmp_path, load_adapter, private_cache, monkeypatch):
    write_gb_layout(tmp_path, "demo", n_per_class=8)
    first = load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))
    assert len(list(private_cache.rglob("manifest.json"))) == 1

    def no_reading(*args, **kwargs):
        raise AssertionError("the source was read again although nothing changed")

    monkeypatch.setattr(gb, "convert", no_reading)
    again = load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))
    np.testing.assert_array_equal(first.tokens, again.tokens)
    assert first.meta["cache_file"] == again.meta["cache_file"]


def test_cache_invalidated_when_the_source_changes(tmp_path, load_adapter, private_cache):
    write_gb_layout(tmp_path, "demo", n_per_class=8)
    before = load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))
    changed = tmp_path / "demo" / "test" / "human" / "0.txt"
    stat = changed.stat()
    changed.write_text("A" * 40)  # same size: only the mtime tells
    # Coarse file-system clocks may give the rewrite the same mtime: move it on explicitly.
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))
    assert decode(after.tokens[after.ids == "test/human/0"]) == ["A" * 40]
    # an in-place rewrite leaves the folders alone: the sampled file stamps catch it
    assert before.meta["source_fingerprint"] != after.meta["source_fingerprint"]
    assert len(list(private_cache.rglob("manifest.json"))) == 1  # the stale entry is gone
    (tmp_path / "demo" / "train" / "worm" / "15.txt").unlink()
    fewer = load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))
    assert len(fewer.tokens) == 15


def test_unknown_dataset_name(tmp_path, load_adapter, monkeypatch):
    monkeypatch.setattr(gb, "package_cache_path", lambda: tmp_path)
    with pytest.raises(
        UserError,
        match=r"unknown dataset 'demo_human_or_wrom'; did you mean "
        r"'demo_human_or_worm'\?",
    ):
        load_adapter("genomic_benchmarks", name="demo_human_or_wrom")


def test_not_downloaded_offline_says_where_and_how(tmp_path, load_adapter, monkeypatch):
    monkeypatch.setattr(gb, "package_cache_path", lambda: tmp_path)
    with pytest.raises(UserError) as err:
        load_adapter("genomic_benchmarks", name="demo_human_or_worm")
    message = str(err.value)
    assert str(tmp_path / "demo_human_or_worm") in message
    assert "download_dataset('demo_human_or_worm')" in message and "path:" in message


def test_download_without_network_fails_fast(tmp_path, load_adapter, monkeypatch):
    monkeypatch.setattr(gb, "package_cache_path", lambda: tmp_path)

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with pytest.raises(UserError, match=r"cannot reach raw\.githubusercontent\.com"):
        load_adapter("genomic_benchmarks", name="demo_human_or_worm", download=True)


def test_path_without_layout(tmp_path, load_adapter):
    with pytest.raises(UserError, match=r"no demo/train and demo/test folders under"):
        load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))


def test_classes_must_match_between_splits(tmp_path, load_adapter):
    write_gb_layout(tmp_path, "demo", n_per_class=8)
    shutil.rmtree(tmp_path / "demo" / "test" / "worm")
    with pytest.raises(UserError, match=r"train classes \['human', 'worm'\] differ from test"):
        load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))


def test_bad_character_names_the_file(tmp_path, load_adapter):
    write_gb_layout(tmp_path, "demo", n_per_class=8)
    (tmp_path / "demo" / "train" / "human" / "3.txt").write_text("ACGU")
    with pytest.raises(UserError, match=r"demo/train/human/3\.txt: invalid character 'U'"):
        load_adapter("genomic_benchmarks", name="demo", path=str(tmp_path))
