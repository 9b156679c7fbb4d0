"""Shared sequence handling and the leakage check, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.encoding import encode_one, reverse_complement
from adapters.leakage import drop_leaked, find_leakage, leakage_counts
from adapters.sequences import apply_length_policy, class_labels, encode_batch, unique_ids
from harness.core.dataset import PAD_TOKEN
from harness.core.errors import UserError


def where(i: int) -> str:
    return f"f.fa record {i + 1}"


def test_encode_batch_counts_iupac_and_names_bad_record():
    enc = encode_batch(["ACGT", "acgn", "RYAC"], where)
    assert enc.lengths.tolist() == [4, 4, 4] and enc.n_ambiguous == 2
    assert enc.flat[4:8].tolist() == [0, 1, 2, 4]  # lower case accepted
    with pytest.raises(UserError, match=r"f\.fa record 2: invalid character 'Z' at position 2"):
        encode_batch(["ACGT", "AZGT"], where)
    with pytest.raises(UserError, match=r"f\.fa record 2: empty sequence"):
        encode_batch(["ACGT", ""], where)


def test_length_policies():
    enc = encode_batch(["ACGTAC", "ACG", "ACGTACGTAC"], where)
    with pytest.raises(UserError, match=r"record 2: length 3 differs from 6"):
        apply_length_policy(enc, "error", None, where)
    tokens, offset = apply_length_policy(enc, "pad", 8, where)
    assert tokens.shape == (3, 8) and (tokens[1, 3:] == PAD_TOKEN).all()
    assert offset.tolist() == [0, 0, 1]  # the 10-bp record is center-cropped to 8
    assert tokens[2].tolist() == encode_one("CGTACGTA")[0].tolist()
    tokens, offset = apply_length_policy(enc, "center_crop", None, where)
    assert tokens.shape == (3, 3) and offset.tolist() == [1, 0, 3]
    with pytest.raises(UserError, match=r"record 2: length 3 is shorter than center_crop"):
        apply_length_policy(enc, "center_crop", 5, where)


def test_class_labels_numeric_order_and_unknown():
    labels, names = class_labels(["10", "2", "2"], None, where)
    assert names == ["2", "10"] and labels.tolist() == [1, 0, 0]
    with pytest.raises(UserError, match=r"record 3: label 'x' is not one of the classes"):
        class_labels(["a", "b", "x"], ["a", "b"], where)


def test_unique_ids():
    assert unique_ids(["a", "b", "a", "a"]).tolist() == ["a", "b", "a#2", "a#3"]


def test_leakage_exact_revcomp_and_padding():
    seqs = ["ACGTTT", "GGGCCA", "AAACG", "TTTTTT", "GGGCCA", "CGTTT", "AAAAAA"]
    enc = encode_batch(seqs, where)
    tokens, _ = apply_length_policy(enc, "pad", None, where)
    # train: 0, 1, 2; val: 3, 4; test: 5, 6
    split = {"train": np.array([0, 1, 2]), "val": np.array([3, 4]), "test": np.array([5, 6])}
    found = find_leakage(tokens, split)
    counts = leakage_counts(found)
    assert counts["train_val_exact"] == 1  # GGGCCA
    assert counts["train_test_revcomp"] == 1  # AAACG (padded) is the RC of CGTTT
    assert counts["val_test_exact"] == 0 and counts["val_test_revcomp"] == 1  # TTTTTT / AAAAAA
    assert sum(counts.values()) == 3
    dropped = drop_leaked(split, found)
    assert dropped["train"].tolist() == [0] and dropped["val"].tolist() == [4]
    np.testing.assert_array_equal(dropped["test"], split["test"])
    assert reverse_complement(tokens[[2]])[0, 0] == PAD_TOKEN  # the case PAD stripping handles
