"""The long-range enhancer-promoter adapter: only the pair of motifs tells the label."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from adapters.encoding import decode
from adapters.long_range_motifs import (
    ENHANCER,
    PROMOTER,
    LongRangeMotifsParams,
    flip_auroc,
    load,
    revcomp,
)


def make(seed: int = 0, **kw):
    kw = {"n": 400, "length": 256, **kw}
    return load(LongRangeMotifsParams(**kw), seed)


def count(seq: str, motif: str) -> int:
    """Occurrences of ``motif`` in ``seq``, overlapping ones included."""
    return sum(seq.startswith(motif, i) for i in range(len(seq) - len(motif) + 1))


def true_rule(ds) -> np.ndarray:
    """The rule written out again from the annotations, independently of the adapter's code."""
    a = ds.annotations
    le, lp = len(ds.meta["motifs"][0]), len(ds.meta["motifs"][1])
    lo, hi = ds.meta["distance_window"]
    out = np.zeros(len(ds.labels), dtype=int)
    for i in range(len(out)):
        e, p = int(a["enhancer_start"][i]), int(a["promoter_start"][i])
        es, ps = int(a["enhancer_strand"][i]), int(a["promoter_strand"][i])
        if es != ps:
            continue
        # distance read on the motifs' own strand, start to start (5' ends)
        dist = p - e if es == 1 else (e + le) - (p + lp)
        out[i] = lo <= dist <= hi
    return out


def test_shapes_dtypes_and_determinism():
    a, b = make(3), make(3)
    assert a.tokens.dtype == np.uint8 and a.tokens.shape == (400, 256)
    assert a.tokens.max() <= 3
    assert a.task == "binary" and a.labels.dtype == np.int64
    assert a.annotations["motif_mask"].shape == (400, 256)
    assert a.annotations["enhancer_start"].shape == (400,)
    assert a.annotations["promoter_strand"].dtype == np.int8
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.fingerprint() == b.fingerprint()
    # the run seed moves only the validation carve; data_seed changes the data
    c = make(4)
    np.testing.assert_array_equal(a.tokens, c.tokens)
    np.testing.assert_array_equal(a.split["test"], c.split["test"])
    assert not np.array_equal(a.split["val"], c.split["val"])
    d = make(3, data_seed=1)
    assert not np.array_equal(a.tokens, d.tokens)
    assert not np.array_equal(a.annotations["enhancer_start"], d.annotations["enhancer_start"])


def test_every_sequence_holds_each_motif_once_and_the_mask_marks_them():
    ds = make(n=300, length=512)
    mask = ds.annotations["motif_mask"]
    for i, seq in enumerate(decode(ds.tokens)):
        assert count(seq, ENHANCER) + count(seq, revcomp(ENHANCER)) == 1
        assert count(seq, PROMOTER) + count(seq, revcomp(PROMOTER)) == 1
        e, p = int(ds.annotations["enhancer_start"][i]), int(ds.annotations["promoter_start"][i])
        es = int(ds.annotations["enhancer_strand"][i])
        ps = int(ds.annotations["promoter_strand"][i])
        assert seq[e : e + len(ENHANCER)] == (ENHANCER if es == 1 else revcomp(ENHANCER))
        assert seq[p : p + len(PROMOTER)] == (PROMOTER if ps == 1 else revcomp(PROMOTER))
        assert mask[i].sum() == len(ENHANCER) + len(PROMOTER)
        assert mask[i, e : e + len(ENHANCER)].all() and mask[i, p : p + len(PROMOTER)].all()


def test_classes_balanced_and_negative_kinds_mixed():
    ds = make(n=2000, flip=0.0)
    assert ds.labels.mean() == pytest.approx(0.5, abs=0.01)
    kinds = ds.meta["negative_kinds"]
    assert set(kinds) == {"distance", "promoter_reversed", "swapped"}
    assert max(kinds.values()) - min(kinds.values()) <= 1
    # every motif strand is label-blind
    for key in ("enhancer_strand", "promoter_strand"):
        plus = ds.annotations[key] == 1
        assert plus[ds.labels == 1].mean() == pytest.approx(plus[ds.labels == 0].mean(), abs=0.06)


def test_true_rule_reaches_the_noise_ceiling():
    ds = make(n=2000, flip=0.1)
    rule = true_rule(ds)
    np.testing.assert_array_equal(rule, ds.annotations["clean_label"].astype(int))
    test = ds.split["test"]
    ceiling = ds.meta["noise_ceiling"]
    assert roc_auc_score(ds.labels[test], rule[test]) == pytest.approx(ceiling["auroc"], abs=1e-9)
    assert np.mean(rule[test] == ds.labels[test]) == pytest.approx(ceiling["accuracy"], abs=1e-9)
    assert ds.meta["noise_ceiling_analytic"]["auroc"] == pytest.approx(0.9, abs=1e-3)
    # the sample ceiling lies near the analytic 1 - flip
    assert roc_auc_score(ds.labels, rule) == pytest.approx(0.9, abs=0.03)
    clean = make(n=400, flip=0.0)
    assert clean.meta["noise_ceiling"] == {"accuracy": 1.0, "auroc": 1.0}
    np.testing.assert_array_equal(true_rule(clean), clean.labels)


def test_flip_auroc_formula():
    assert flip_auroc(0.0) == 1.0 and flip_auroc(0.5) == pytest.approx(0.5)
    assert flip_auroc(0.2) == pytest.approx(0.8)
    rng = np.random.default_rng(0)
    clean = (rng.random(400_000) < 0.3).astype(int)
    noisy = clean ^ (rng.random(len(clean)) < 0.15)
    assert roc_auc_score(noisy, clean) == pytest.approx(flip_auroc(0.15, 0.3), abs=3e-3)


def kmer_counts(tokens: np.ndarray, k: int) -> np.ndarray:
    n, length = tokens.shape
    codes = np.zeros((n, length - k + 1), dtype=np.int64)
    for j in range(k):
        codes = codes * 4 + tokens[:, j : j + length - k + 1]
    codes += np.arange(n)[:, None] * 4**k
    return np.bincount(codes.ravel(), minlength=n * 4**k).reshape(n, 4**k)


def fit_auroc(ds, features: np.ndarray) -> float:
    train, test = ds.split["train"], ds.split["test"]
    scale = StandardScaler().fit(features[train])
    model = LogisticRegression(max_iter=2000).fit(
        scale.transform(features[train]), ds.labels[train]
    )
    return float(
        roc_auc_score(ds.labels[test], model.predict_proba(scale.transform(features[test]))[:, 1])
    )


@pytest.fixture(scope="module")
def big():
    return make(n=4000, length=512, flip=0.0, test_fraction=0.4)


def test_bag_of_motifs_cannot_solve_it(big):
    seqs = decode(big.tokens)
    motifs = [ENHANCER, revcomp(ENHANCER), PROMOTER, revcomp(PROMOTER)]
    found = np.array([[count(s, m) for m in motifs] for s in seqs])
    features = np.hstack([kmer_counts(big.tokens, k) for k in (1, 2, 3)] + [found])
    auroc = fit_auroc(big, features.astype(float))
    print(f"bag-of-motifs test AUROC {auroc:.3f}")
    assert auroc <= 0.55


@pytest.mark.parametrize("key", ["enhancer_start", "promoter_start"])
def test_one_motif_position_alone_cannot_solve_it(big, key):
    bins = big.annotations[key] * 16 // big.length
    auroc = fit_auroc(big, np.eye(16)[bins])
    print(f"{key} alone test AUROC {auroc:.3f}")
    assert auroc <= 0.6


def test_estimated_bytes_grows_with_n_and_length():
    base = LongRangeMotifsParams(n=1000, length=1024).estimated_bytes()
    assert LongRangeMotifsParams(n=2000, length=1024).estimated_bytes() > base
    assert LongRangeMotifsParams(n=1000, length=4096).estimated_bytes() > base
    big = LongRangeMotifsParams(n=100_000, length=100_000)
    assert big.estimated_bytes() >= 3 * 100_000 * 100_000


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"length": 10}, "greater than or equal to 64"),
        ({"flip": 0.7}, "less than or equal to 0.5"),
        ({"length": 1000, "distance": 1200}, "exceeds length 1000"),
        ({"length": 1000, "distance": 900}, "room for wrong-distance negatives"),
        ({"distance": 5}, "at least len(enhancer) + 1"),
        ({"enhancer": "GGGAXTTTCC"}, "must be over A, C, G, T"),
        ({"enhancer": "GAATTC"}, "its own reverse complement"),
        ({"promoter": revcomp(ENHANCER)}, "must differ"),
        ({"n": 20_000_000}, "less than or equal to 10000000"),
        ({"bogus": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_params_refused(params, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        LongRangeMotifsParams(**params)


def test_distance_defaults_to_half_the_length():
    ds = make(n=200, length=1000)
    assert ds.meta["distance"] == 500 and ds.meta["distance_window"] == [450, 550]
    near = make(n=200, length=1000, distance=100, distance_tolerance=0.05)
    assert near.meta["distance_window"] == [95, 105]
    np.testing.assert_array_equal(true_rule(near), near.annotations["clean_label"].astype(int))
