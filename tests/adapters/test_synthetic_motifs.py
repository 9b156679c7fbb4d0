"""The synthetic planted-motif adapter: deterministic, with a complete ground-truth mask."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from adapters.encoding import decode
from adapters.synthetic_motifs import SEED_MOTIFS, SyntheticMotifsParams, combine_strengths, load


def make(seed: int = 0, **kw):
    return load(SyntheticMotifsParams(n=300, length=60, **kw), seed)


def test_same_seed_same_data_and_splits():
    a, b = make(3), make(3)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.labels, b.labels)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(a.split[name], b.split[name])
    assert a.fingerprint() == b.fingerprint()
    c = make(4)  # the run seed changes only the validation carve, never data or test split
    np.testing.assert_array_equal(a.tokens, c.tokens)
    np.testing.assert_array_equal(a.split["test"], c.split["test"])
    assert not np.array_equal(a.split["val"], c.split["val"])
    assert not set(c.split["val"]) & set(a.split["test"])


def test_splits_partition_all_examples():
    ds = make()
    joined = np.concatenate([ds.split[k] for k in ("train", "val", "test")])
    assert sorted(joined) == list(range(300))
    assert len(ds.split["test"]) == 45 and len(ds.split["val"]) == 45


def test_mask_marks_exactly_the_planted_motifs_and_nothing_else_matches():
    ds = make()
    seqs = decode(ds.tokens)
    motifs = ds.meta["motifs"]
    for i, seq in enumerate(seqs):
        ids = ds.annotations["motif_id"][i]
        found = np.zeros(len(seq), dtype=bool)
        for j, motif in enumerate(motifs):
            start = seq.find(motif)
            while start != -1:
                found[start : start + len(motif)] = True
                start = seq.find(motif, start + 1)
            # every planted position of motif j spells motif j
            planted = np.flatnonzero(ids == j)
            if planted.size == 0:
                continue
            for run_start in planted[np.r_[True, np.diff(planted) > 1]]:
                assert seq[run_start : run_start + len(motif)] == motif
        # scrubbed background: motif occurrences only where planted
        np.testing.assert_array_equal(found, ds.annotations["motif_mask"][i])


def test_labels_follow_planted_strengths():
    ds = make(noise_sd=0.0)
    strengths = dict(SEED_MOTIFS)
    for i in range(20):
        ids = ds.annotations["motif_id"][i]
        planted = [
            strengths[ds.meta["motifs"][ids[p]]]
            for p in np.flatnonzero(ids >= 0)
            if p == 0 or ids[p - 1] != ids[p]
        ]
        assert ds.labels[i] == pytest.approx(combine_strengths(planted, "saturating"), abs=1e-6)
    assert ds.meta["noise_ceiling"]["pearson"] == pytest.approx(1.0)


def test_noise_lowers_the_ceiling_and_binary_target():
    noisy = make(noise_sd=0.3)
    assert 0.3 < noisy.meta["noise_ceiling"]["pearson"] < 0.99
    binary = make(target="binary")
    assert binary.task == "binary" and set(np.unique(binary.labels)) == {0, 1}
    assert 0.5 < binary.meta["noise_ceiling"]["accuracy"] <= 1.0


def test_bad_params_rejected():
    with pytest.raises(ValidationError):
        SyntheticMotifsParams(motifs={"TAXA": 0.5})
    with pytest.raises(ValidationError):
        SyntheticMotifsParams(min_motifs=3, max_motifs=1)
    with pytest.raises(ValidationError):
        SyntheticMotifsParams(length=10, max_motifs=4)
