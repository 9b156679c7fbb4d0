"""Enrichment of important positions in planted motifs, JASPAR hits and the TATA window."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.encoding import encode, reverse_complement
from adapters.synthetic_motifs import SyntheticMotifsParams, load
from harness.analysis import motifs


@pytest.fixture(scope="module")
def planted():
    ds = load(SyntheticMotifsParams(n=200, length=60, max_motifs=3), seed=0)
    return ds.view("test"), ds.meta


def test_mask_plus_noise_is_enriched_and_random_is_not(planted):
    test, _ = planted
    mask = test.annotations["motif_mask"]
    rng = np.random.default_rng(0)
    good = motifs.planted_enrichment(mask + rng.normal(0, 0.3, mask.shape), mask)
    assert good["hypergeom_p"] < 1e-10
    assert good["precision"] > 0.7 and good["precision"] == good["recall"]
    assert good["fold_enrichment"] > 3 and good["auroc"] > 0.9
    rand = motifs.planted_enrichment(rng.random(mask.shape), mask)
    assert rand["hypergeom_p"] > 0.01
    assert abs(rand["auroc"] - 0.5) < 0.1
    assert rand["chance_precision"] == pytest.approx(good["chance_precision"])


def test_fixed_fraction_top_k(planted):
    test, _ = planted
    mask = test.annotations["motif_mask"]
    out = motifs.planted_enrichment(mask.astype(float), mask, fraction=0.1)
    assert out["n_sequences"] == len(mask)  # every sequence counts, motif or not
    assert out["k_total"] == len(mask) * 6
    assert out["precision"] > out["chance_precision"]


def test_motif_recovery_per_motif(planted):
    test, meta = planted
    mask, ids = test.annotations["motif_mask"], test.annotations["motif_id"]
    perfect = motifs.motif_recovery(mask.astype(float), mask, ids, meta["motifs"])
    assert set(perfect["motif"]) <= set(meta["motifs"])
    assert (perfect["recovery"] == 1.0).all()
    # importance on the TATAAA motif only: it is recovered, the others are not
    tata = meta["motifs"].index("TATAAA")
    only = motifs.motif_recovery((ids == tata).astype(float), mask, ids, meta["motifs"])
    by_name = dict(zip(only["motif"], only["recovery"], strict=True))
    assert by_name["TATAAA"] == 1.0
    assert max(v for k, v in by_name.items() if k != "TATAAA") < 0.5


def test_topk_mask_variable_k_and_valid_positions():
    imp = np.array([[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]])
    out = motifs.topk_mask(imp, np.array([2, 1]))
    assert out.tolist() == [[False, True, False, True], [True, False, False, False]]
    valid = np.array([[True, False, True, True], [True, True, True, True]])
    assert motifs.topk_mask(imp, 1, valid)[0].tolist() == [False, False, False, True]


def test_fisher_high_low_direction():
    rng = np.random.default_rng(0)
    feature = rng.random((50, 40)) < 0.2
    up = motifs.fisher_high_low(feature + rng.normal(0, 0.1, feature.shape), feature, q=0.1)
    down = motifs.fisher_high_low(
        -feature.astype(float) + rng.normal(0, 0.1, feature.shape), feature, q=0.1
    )
    assert up["odds_ratio"] > 1 and up["pvalue"] < 1e-6 and up["high_rate"] > up["low_rate"]
    assert down["odds_ratio"] < 1 and down["pvalue"] < 1e-6


def _with_site(n: int, length: int, site: str, every: int, seed: int = 0):
    """Random DNA with ``site`` planted at position 20 of every ``every``-th sequence."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
    rows = np.arange(0, n, every)
    tokens[rows, 20 : 20 + len(site)] = encode([site])[0]
    return tokens, rows


def test_tbp_hits_on_both_strands():
    tbp = motifs.jaspar_motif(motifs.TBP_MATRIX)
    assert tbp.base_id == "MA0108"
    tokens, _ = _with_site(6, 50, "TATAAAAG", every=3)
    tokens[1] = reverse_complement(tokens[0])  # the same site on the other strand
    hits = motifs.motif_hits(tokens, tbp)
    assert hits[0, 20:27].all()
    assert hits[1, 23:30].all()  # positions 20..26 reversed: 50 - 1 - 26 .. 50 - 1 - 20
    assert hits[[2, 4, 5]].mean() < 0.2  # at p < 1e-4 random DNA has few hits


def test_jaspar_enrichment_finds_the_motif_the_importance_points_at():
    tokens, rows = _with_site(60, 50, "TATAAAAG", every=2)
    importance = np.random.default_rng(1).random(tokens.shape)
    importance[rows, 20:27] += 2.0
    tbp = motifs.jaspar_motif(motifs.TBP_MATRIX)
    sp1 = motifs.jaspar_motif("MA0079")
    frame = motifs.jaspar_enrichment(importance, tokens, motifs=[tbp, sp1], q=0.15)
    top = frame.iloc[0]
    assert top["name"] == "TBP" and top["enriched"] and top["odds_ratio"] > 1
    assert set(frame.columns) >= {"matrix_id", "odds_ratio", "pvalue", "q_bh", "enriched"}
    assert not frame.set_index("name").loc["SP1", "enriched"]


def test_select_motifs_by_id_and_information():
    every = motifs.jaspar_motifs()
    assert len(every) > 500
    chosen = motifs.select_motifs(every, ids=["MA0108"], top_n=2)
    assert chosen[0].base_id == "MA0108" and len(chosen) == 3
    rest = [motifs.information_content(m) for m in every if m not in chosen]
    assert min(motifs.information_content(m) for m in chosen[1:]) >= max(rest)


def test_promoter_tata_window_and_tss_profile():
    rng = np.random.default_rng(0)
    n, length = 40, 80
    tss = rng.integers(40, 60, n)
    tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
    importance = rng.random((n, length))
    window = motifs.window_mask(tss, length)
    assert (window.sum(axis=1) == 8).all()
    importance[window] += 3.0
    frame = motifs.promoter_enrichment(importance, tokens, tss, q=0.1)
    tata = frame[frame["feature"].str.startswith("TATA window")].iloc[0]
    assert tata["odds_ratio"] > 1 and tata["pvalue"] < 1e-6
    assert frame["feature"].str.contains("MA0108").any()
    profile = motifs.tss_profile(importance, tss)
    peak = profile.loc[profile["mean_relative_importance"].idxmax(), "offset"]
    assert -31 <= peak <= -24


@pytest.mark.parametrize("matrix_id", ["MA0108", "MA0079"])
def test_fast_threshold_agrees_with_biopython(matrix_id):
    pssm = motifs.pssm_of(motifs.jaspar_motif(matrix_id))
    reference = pssm.distribution(precision=10**3).threshold_fpr(1e-4)
    assert motifs.score_threshold(pssm, 1e-4) == pytest.approx(reference, abs=0.02)
    assert motifs.score_threshold(pssm, 1e-3) < motifs.score_threshold(pssm, 1e-4)


def test_constant_importance_is_not_enriched_even_when_k_follows_the_planted_count():
    # k = planted count per sequence: pooling all positions into one urn would call a constant
    # (or leftmost-position) selection "enriched"; per-sequence nulls and random tie-breaks do not.
    ds = load(SyntheticMotifsParams(n=600, length=200), seed=0)
    mask = ds.annotations["motif_mask"]
    for importance in (np.zeros(mask.shape), np.random.default_rng(1).random(mask.shape)):
        out = motifs.planted_enrichment(importance, mask)
        assert out["hypergeom_p"] > 0.01
        assert abs(out["precision"] - out["chance_precision"]) < 0.01
    planted = motifs.planted_enrichment(
        mask + np.random.default_rng(0).random(mask.shape) * 0.5, mask
    )
    assert planted["hypergeom_p"] < 1e-10 and planted["precision"] > 0.9
