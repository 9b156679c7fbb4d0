"""Shared sequence handling and the leakage check, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.encoding import encode_one, reverse_complement
from adapters.leakage import (
    drop_leaked,
    find_leakage,
    find_near_duplicates,
    jaccard_pairs,
    kmer_codes,
    kmer_sketches,
    leakage_counts,
)
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


def _random_tokens(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    return rng.integers(0, 4, size=(n, length), dtype=np.uint8)


def test_kmer_codes_are_canonical_and_skip_n():
    tokens = encode_one("ACGTTGCAN")[0][None, :]
    codes = kmer_codes(tokens, k=3)
    rc_codes = kmer_codes(reverse_complement(tokens[:, :8]), k=3)
    assert codes.shape == (1, 7) and codes[0, -1] == 4**3  # the window holding N
    assert sorted(codes[0, :-1].tolist()) == sorted(rc_codes[0].tolist())


def test_jaccard_pairs_exact():
    rng = np.random.default_rng(0)
    tokens = _random_tokens(rng, 2, 300)
    bits, _ = kmer_sketches(tokens)
    sizes = np.bitwise_count(bits).sum(axis=1)
    codes = kmer_codes(tokens)
    a, b = set(codes[0].tolist()), set(codes[1].tolist())
    got = jaccard_pairs(bits, sizes, np.array([0, 0]), np.array([1, 0]))
    np.testing.assert_allclose(got, [len(a & b) / len(a | b), 1.0])


def test_near_duplicates_found_counted_apart_and_kept():
    """A mutated copy (4 substitutions: J ~ 0.85) and a reverse-complemented one are
    near-duplicates; unrelated random sequences are not; exact copies count as exact only."""
    rng = np.random.default_rng(1)
    tokens = _random_tokens(rng, 12, 300)
    mutated = tokens[0].copy()
    sites = rng.choice(np.arange(10, 290, 20), 4, replace=False)
    mutated[sites] = (mutated[sites] + 1) % 4
    tokens[6] = mutated  # val row 6 ~ train row 0
    tokens[10] = reverse_complement(tokens[1:2])[0]  # test row 10 = RC of train row 1
    tokens[11] = tokens[2]  # test row 11 = exact copy of train row 2
    split = {"train": np.arange(0, 6), "val": np.arange(6, 9), "test": np.arange(9, 12)}
    near = find_near_duplicates(tokens, split)
    assert near["train_val"].tolist() == [0]
    assert near["train_test"].tolist() == [1, 2] and near["val_test"].tolist() == []
    counts = leakage_counts(find_leakage(tokens, split))
    assert counts["train_val_near"] == 1 and counts["train_test_near"] == 0
    assert counts["train_test_revcomp"] == 1 and counts["train_test_exact"] == 1
    dropped = drop_leaked(split, find_leakage(tokens, split))
    assert dropped["train"].tolist() == [0, 3, 4, 5]  # near-duplicate row 0 kept


def test_near_duplicates_threshold_and_lengths():
    rng = np.random.default_rng(2)
    tokens = _random_tokens(rng, 3, 200)
    tokens[1] = tokens[0]
    tokens[1, 100:] = _random_tokens(rng, 1, 100)  # half shared: J ~ 1/3
    tokens[2] = tokens[0]
    tokens[2, [50, 150]] = (tokens[2, [50, 150]] + 1) % 4  # 2 substitutions: J ~ 0.89
    split = {"train": np.array([0]), "val": np.array([1]), "test": np.array([2])}
    assert find_near_duplicates(tokens, split)["train_val"].tolist() == []
    assert find_near_duplicates(tokens, split)["train_test"].tolist() == [0]
    assert find_near_duplicates(tokens, split, threshold=0.95)["train_test"].tolist() == []
    assert find_near_duplicates(tokens[:, :20], split) == {}  # too short: not compared
    assert "train_test_near" not in find_leakage(tokens[:, :20], split)
