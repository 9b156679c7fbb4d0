"""The table adapter: split column, files per split, folds, labels, leakage, bad inputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from adapters.leakage import find_leakage, leakage_counts
from adapters.table import TableParams, load
from harness.core.errors import UserError

PER_SPLIT = {"train": "train.tsv", "test": "test.tsv.gz"}


def per_split(fx, load_adapter, seed=0, **kw):
    return load_adapter(
        "table",
        seed=seed,
        path=str(fx / "per_split"),
        files=PER_SPLIT,
        sequence_column="seq",
        label_column="target",
        index_column=0,
        **kw,
    )


def test_split_column_with_dev_as_val(fx, load_adapter):
    ds = load_adapter("table", path=str(fx / "table_split.csv"), split_column="split")
    # rows cycle train, train, train, dev, test
    assert {k: len(v) for k, v in ds.split.items()} == {"train": 18, "val": 6, "test": 6}
    assert ds.task == "binary" and ds.meta["class_names"] == ["0", "1"]
    assert ds.labels.dtype == np.int64
    assert ds.ids[0] == "table_split.csv:2"  # file line of the first data row
    json.dumps(ds.meta)


def test_files_per_split_val_carved_and_test_official(fx, load_adapter):
    a, b, c = (
        per_split(fx, load_adapter, 5),
        per_split(fx, load_adapter, 5),
        per_split(fx, load_adapter, 6),
    )
    assert {k: len(v) for k, v in a.split.items()} == {"train": 36, "val": 4, "test": 10}
    assert a.meta["class_names"] == ["a", "b"] and a.meta["val_carved_from_train"]
    assert all(i.startswith("train.tsv:") for i in a.ids[a.split["val"]])
    assert sorted(a.ids[a.split["test"]]) == sorted(f"test.tsv.gz:{i}" for i in range(10))
    np.testing.assert_array_equal(a.split["val"], b.split["val"])
    assert not np.array_equal(a.ids[a.split["val"]], c.ids[c.split["val"]])
    np.testing.assert_array_equal(a.view("test").tokens, c.view("test").tokens)
    # stratified: both classes in val
    assert set(a.labels[a.split["val"]].tolist()) == {0, 1}


def test_folds(fx, load_adapter):
    ds = load_adapter(
        "table",
        path=str(fx / "folds"),
        folds={"train": [1, 2, 3], "val": [4], "test": [5]},
        label_column="promoter_presence",
        index_column=0,
        tss_index=7,
    )
    assert {k: len(v) for k, v in ds.split.items()} == {"train": 30, "val": 10, "test": 10}
    assert set(ds.ids[ds.split["val"]].tolist()) == {f"fold_4.csv.gz:{i}" for i in range(10)}
    assert (ds.annotations["tss_index"] == 7).all()
    assert ds.meta["files"]["test"][0].endswith("fold_5.csv.gz")


def test_regression_labels_are_float(fx, load_adapter):
    ds = load_adapter(
        "table", path=str(fx / "table_split.csv"), split_column="split", task="regression"
    )
    assert ds.task == "regression" and ds.labels.dtype == np.float32
    assert set(ds.labels.tolist()) == {0.0, 1.0}


def test_missing_column_lists_valid_ones(fx, load_adapter):
    with pytest.raises(UserError, match=r"train\.tsv: no label column 'label' \(columns: .*'seq'"):
        load_adapter("table", path=str(fx / "per_split"), files=PER_SPLIT, sequence_column="seq")


def test_missing_file(fx, load_adapter):
    with pytest.raises(UserError, match=r"file not found: .*fold_9\.csv\.gz"):
        load_adapter(
            "table",
            path=str(fx / "folds"),
            folds={"train": [1], "test": [9]},
            label_column="promoter_presence",
        )


def test_bad_character_names_line(tmp_path, load_adapter):
    table = tmp_path / "t.csv"
    table.write_text("sequence,label,split\nACGT,0,train\nAC-T,1,train\nACGT,1,test\n")
    with pytest.raises(UserError, match=r"t\.csv line 3: invalid character '-' at position 3"):
        load_adapter("table", path=str(table), split_column="split")


def test_unknown_split_value(tmp_path, load_adapter):
    table = tmp_path / "t.csv"
    table.write_text("sequence,label,split\nACGT,0,train\nACGA,1,holdout\n")
    with pytest.raises(UserError, match=r"unknown split value\(s\) \['holdout'\]"):
        load_adapter("table", path=str(table), split_column="split")


EXPECTED_LEAKS = {
    "train_val_exact": 2,
    "train_val_revcomp": 1,
    "train_test_exact": 3,
    "train_test_revcomp": 2,
    "val_test_exact": 1,
    "val_test_revcomp": 0,
    "train_val_near": 0,
    "train_test_near": 0,
    "val_test_near": 0,
}


def test_leakage_counted_and_warned(fx, load_adapter):
    with pytest.warns(UserWarning, match="shared across splits"):
        ds = load_adapter("table", path=str(fx / "leakage.csv"), split_column="split")
    assert ds.meta["leakage"] == EXPECTED_LEAKS
    assert {k: len(v) for k, v in ds.split.items()} == {"train": 18, "val": 7, "test": 8}


def test_drop_leakage_keeps_test_official(fx, load_adapter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_adapter(
            "table", path=str(fx / "leakage.csv"), split_column="split", drop_leakage=True
        )
    assert ds.meta["leakage"] == EXPECTED_LEAKS  # what was found in the source
    assert {k: len(v) for k, v in ds.split.items()} == {"train": 10, "val": 6, "test": 8}
    assert not any(leakage_counts(find_leakage(ds.tokens, ds.split)).values())


def test_max_train_subsamples_train_only(fx, load_adapter):
    full = per_split(fx, load_adapter, 3)
    ds = per_split(fx, load_adapter, 3, max_train=10)
    again = per_split(fx, load_adapter, 3, max_train=10)
    assert len(ds.split["train"]) == 10 and ds.meta["n_train_before_max_train"] == 36
    assert np.bincount(ds.labels[ds.split["train"]]).tolist() == [5, 5]  # stratified
    np.testing.assert_array_equal(ds.ids[ds.split["train"]], again.ids[again.split["train"]])
    for name in ("val", "test"):
        np.testing.assert_array_equal(ds.view(name).ids, full.view(name).ids)
    assert len(ds.tokens) == 10 + 4 + 10  # unused rows are dropped


def test_reverse_complement_train_only(fx, load_adapter):
    ds = per_split(fx, load_adapter, 0, reverse_complement=True)
    train_ids = ds.ids[ds.split["train"]].tolist()
    assert len(train_ids) == 72 and sum(i.endswith("_rc") for i in train_ids) == 36
    assert not any(i.endswith("_rc") for i in ds.ids[ds.split["test"]])
    assert ds.meta["reverse_complement_added"] == 36


def test_max_val_subsamples_validation_only(tmp_path):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 20)) for _ in range(200)]
    frame = pd.DataFrame(
        {
            "sequence": seqs,
            "label": [i % 2 for i in range(200)],
            "split": ["train"] * 100 + ["val"] * 60 + ["test"] * 40,
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    ds = load(TableParams(path=str(path), split_column="split", max_val=20), seed=0)
    assert len(ds.split["val"]) == 20 and len(ds.split["test"]) == 40
    assert len(ds.split["train"]) == 100
    assert np.bincount(ds.labels[ds.split["val"]]).tolist() == [10, 10]


def _one_file(tmp_path, task="binary", n=100):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(n)]
    labels = [str(i % 4 == 0) if task == "binary" else f"{i / n:.3f}" for i in range(n)]
    table = tmp_path / f"{task}.tsv"
    pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(table, sep="\t", index=False)
    return table


def test_test_fraction_splits_one_file_stratified_and_seeded(tmp_path, load_adapter):
    table = _one_file(tmp_path)
    a = load_adapter("table", seed=0, path=str(table), test_fraction=0.2, val_fraction=0.25)
    b = load_adapter("table", seed=1, path=str(table), test_fraction=0.2, val_fraction=0.25)
    assert {k: len(v) for k, v in a.split.items()} == {"train": 60, "val": 20, "test": 20}
    assert a.meta["split_source"] == "test_fraction" and a.meta["split_seed"] == 0
    # stratified: the 1-in-4 minority class keeps its share in every split
    assert [int(a.labels[a.split[s]].sum()) for s in ("train", "val", "test")] == [15, 5, 5]
    # test is fixed across run seeds (paired comparisons), validation follows the run seed
    np.testing.assert_array_equal(a.ids[a.split["test"]], b.ids[b.split["test"]])
    assert not np.array_equal(a.ids[a.split["val"]], b.ids[b.split["val"]])
    c = load_adapter("table", seed=0, path=str(table), test_fraction=0.2, split_seed=3)
    assert not np.array_equal(a.ids[a.split["test"]], c.ids[c.split["test"]])
    numbers = _one_file(tmp_path, "regression")
    d = load_adapter("table", path=str(numbers), test_fraction=0.3, task="regression")
    assert len(d.split["test"]) == 30 and d.task == "regression"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"test_fraction": 0.2, "split_column": "split"}, "exactly one of .* split_column"),
        ({"test_fraction": 0.2, "folds": {"train": [1], "test": [2]}}, "exactly one of"),
        ({"test_fraction": 0.2, "files": {"train": "a", "test": "b"}}, "exactly one of"),
        ({"test_fraction": 1.0}, "less than 1"),
        ({"test_fraction": 0.0}, "greater than 0"),
        ({"test_fraction": 0.6, "val_fraction": 0.4}, "must be below 1"),
        ({"split_column": "split", "split_seed": 1}, "split_seed is only used with test_fraction"),
    ],
)
def test_test_fraction_validation(params, message):
    with pytest.raises(ValueError, match=message):
        TableParams.model_validate({"path": "t.csv", **params})
    with pytest.raises(ValueError, match="test_fraction needs path"):
        TableParams.model_validate({"test_fraction": 0.2})


def test_test_fraction_needs_a_file(tmp_path, load_adapter):
    with pytest.raises(UserError, match="must be a table file"):
        load_adapter("table", path=str(tmp_path), test_fraction=0.2)
