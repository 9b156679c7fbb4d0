"""max_train / max_val subsample before encoding: the same rows, in the same order, as encoding
every record first and subsampling after."""

from __future__ import annotations

import numpy as np
import pytest

import adapters.records as records
import adapters.sequences as sequences
from adapters.sequences import (
    CommonParams,
    Records,
    apply_length_policy,
    build_dataset,
    compact,
    complete_split,
    encode_batch,
    subsample,
    unique_ids,
)


def _records(n: int = 300, seed: int = 0, ragged: bool = False):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 31, n) if ragged else np.full(n, 24)
    seqs = ["".join(rng.choice(list("ACGT"), int(k))) for k in lengths]
    labels = rng.integers(0, 2, n).astype(np.int64)
    split = {"train": np.arange(0, 240), "test": np.arange(240, n)}
    return seqs, labels, split


def _encode_all_then_subsample(seqs, labels, split, params, seed):
    """The pipeline before this change: every record encoded, then max_train / max_val."""
    where = str
    tokens, _ = apply_length_policy(
        encode_batch(seqs, where), params.length_policy, params.length, where
    )
    full = complete_split(split, labels, "binary", params.val_fraction, seed, "x")
    if params.max_train is not None:
        full["train"] = subsample(full["train"], labels, params.max_train, seed, True)
    if params.max_val is not None:
        full["val"] = subsample(full["val"], labels, params.max_val, seed + 1, True)
    ids = unique_ids([f"r{i}" for i in range(len(seqs))])
    return compact(tokens, labels, ids, {}, full)


@pytest.mark.parametrize("raw", [True, False], ids=["records", "encoded"])
@pytest.mark.parametrize(
    "options",
    [
        {"max_train": 50, "max_val": 10},
        {"max_train": 50},
        {"max_train": 40, "length_policy": "pad"},
        {"max_train": 40, "length_policy": "center_crop"},
        {},
    ],
)
@pytest.mark.parametrize("seed", [0, 3])
def test_same_rows_and_order_as_encoding_everything(raw, options, seed):
    ragged = options.get("length_policy") is not None
    seqs, labels, split = _records(ragged=ragged)
    params = CommonParams(**options)
    enc = Records(seqs, str) if raw else encode_batch(seqs, str)
    ds = build_dataset(
        enc=enc,
        labels=labels,
        ids=[f"r{i}" for i in range(len(seqs))],
        split=split,
        task="binary",
        params=params,
        seed=seed,
        meta={"source": "x", "class_names": ["a", "b"]},
        where=str,
    )
    tokens, kept_labels, ids, _, full = _encode_all_then_subsample(
        seqs, labels, split, params, seed
    )
    np.testing.assert_array_equal(ds.tokens, tokens)
    np.testing.assert_array_equal(ds.labels, kept_labels)
    np.testing.assert_array_equal(ds.ids, ids)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(ds.split[name], full[name])
    assert ds.meta["n_records"] == len(seqs) and ds.meta["n_train_before_max_train"] > 40


def test_only_the_kept_rows_are_encoded(monkeypatch):
    seqs, labels, split = _records()
    seen = []

    def counting(batch, *args, **kwargs):
        seen.append(len(batch))
        return encode_batch(batch, *args, **kwargs)

    monkeypatch.setattr(records, "encode_batch", counting)
    ds = build_dataset(
        enc=Records(seqs, str),
        labels=labels,
        ids=[f"r{i}" for i in range(len(seqs))],
        split=split,
        task="binary",
        params=CommonParams(max_train=30, max_val=10),
        seed=0,
        meta={"source": "x", "class_names": ["a", "b"]},
        where=str,
    )
    assert seen == [30 + 10 + 60] == [len(ds.tokens)]


def test_bad_character_in_a_kept_row_names_its_own_record():
    seqs, labels, split = _records()
    seqs[250] = seqs[250][:5] + "U" + seqs[250][6:]  # a test row: always kept
    with pytest.raises(sequences.UserError, match=r"record 250: invalid character 'U'"):
        build_dataset(
            enc=Records(seqs, lambda i: f"record {i}"),
            labels=labels,
            ids=[f"r{i}" for i in range(len(seqs))],
            split=split,
            task="binary",
            params=CommonParams(max_train=30),
            seed=0,
            meta={"source": "x"},
            where=lambda i: f"record {i}",
        )


def test_encoded_select_gathers_ragged_records():
    enc = encode_batch(["ACG", "TTTTT", "GA", "CCCC"], str)
    picked = enc.select(np.array([1, 3]))
    assert picked.lengths.tolist() == [5, 4]
    assert picked.flat.tolist() == [3] * 5 + [1] * 4
    assert enc.select(np.arange(4)) is enc
