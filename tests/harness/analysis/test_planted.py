"""Enrichment of important positions in planted motifs."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.synthetic_motifs import SyntheticMotifsParams, load
from harness.analysis.planted import motif_recovery, planted_enrichment


@pytest.fixture(scope="module")
def planted():
    ds = load(SyntheticMotifsParams(n=200, length=60, max_motifs=3), seed=0)
    return ds.view("test"), ds.meta


def test_mask_plus_noise_is_enriched_and_random_is_not(planted):
    test, _ = planted
    mask = test.annotations["motif_mask"]
    rng = np.random.default_rng(0)
    good = planted_enrichment(mask + rng.normal(0, 0.3, mask.shape), mask)
    assert good["precision"] > 0.7 and good["precision"] == good["recall"]
    assert good["fold_enrichment"] > 3 and good["auroc"] > 0.9
    rand = planted_enrichment(rng.random(mask.shape), mask)
    assert abs(rand["auroc"] - 0.5) < 0.1
    assert rand["chance_precision"] == pytest.approx(good["chance_precision"])


def test_fixed_fraction_top_k(planted):
    test, _ = planted
    mask = test.annotations["motif_mask"]
    out = planted_enrichment(mask.astype(float), mask, fraction=0.1)
    assert out["n_sequences"] == len(mask)  # every sequence counts, motif or not
    assert out["k_total"] == len(mask) * 6
    assert out["precision"] > out["chance_precision"]


def test_motif_recovery_per_motif(planted):
    test, meta = planted
    mask, ids = test.annotations["motif_mask"], test.annotations["motif_id"]
    perfect = motif_recovery(mask.astype(float), mask, ids, meta["motifs"])
    assert set(perfect["motif"]) <= set(meta["motifs"])
    assert (perfect["recovery"] == 1.0).all()
    # importance on the TATAAA motif only: it is recovered, the others are not
    tata = meta["motifs"].index("TATAAA")
    only = motif_recovery((ids == tata).astype(float), mask, ids, meta["motifs"])
    by_name = dict(zip(only["motif"], only["recovery"], strict=True))
    assert by_name["TATAAA"] == 1.0
    assert max(v for k, v in by_name.items() if k != "TATAAA") < 0.5


def test_constant_importance_is_at_chance_even_when_k_follows_the_planted_count():
    # k = planted count per sequence: pooling all positions into one urn would put a constant
    # (or leftmost-position) selection above chance; per-sequence chance and random tie-breaks do
    # not.
    ds = load(SyntheticMotifsParams(n=600, length=200), seed=0)
    mask = ds.annotations["motif_mask"]
    for importance in (np.zeros(mask.shape), np.random.default_rng(1).random(mask.shape)):
        out = planted_enrichment(importance, mask)
        assert abs(out["precision"] - out["chance_precision"]) < 0.01
    planted = planted_enrichment(mask + np.random.default_rng(0).random(mask.shape) * 0.5, mask)
    assert planted["precision"] > 0.9 and planted["fold_enrichment"] > 5
