"""JASPAR motifs: loading, scanning on both strands, thresholds, enrichment."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.encoding import encode, reverse_complement
from harness.analysis.jaspar import (
    information_content,
    jaspar_enrichment,
    jaspar_motif,
    jaspar_motifs,
    motif_hits,
    pssm_of,
    score_threshold,
    select_motifs,
)
from harness.analysis.promoters import TBP_MATRIX


def _with_site(n: int, length: int, site: str, every: int, seed: int = 0):
    """Random DNA with ``site`` planted at position 20 of every ``every``-th sequence."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
    rows = np.arange(0, n, every)
    tokens[rows, 20 : 20 + len(site)] = encode([site])[0]
    return tokens, rows


def test_tbp_hits_on_both_strands():
    tbp = jaspar_motif(TBP_MATRIX)
    assert tbp.base_id == "MA0108"
    tokens, _ = _with_site(6, 50, "TATAAAAG", every=3)
    tokens[1] = reverse_complement(tokens[0])  # the same site on the other strand
    hits = motif_hits(tokens, tbp)
    assert hits[0, 20:27].all()
    assert hits[1, 23:30].all()  # positions 20..26 reversed: 50 - 1 - 26 .. 50 - 1 - 20
    assert hits[[2, 4, 5]].mean() < 0.2  # at p < 1e-4 random DNA has few hits


def test_jaspar_enrichment_finds_the_motif_the_importance_points_at():
    tokens, rows = _with_site(60, 50, "TATAAAAG", every=2)
    importance = np.random.default_rng(1).random(tokens.shape)
    importance[rows, 20:27] += 2.0
    tbp = jaspar_motif(TBP_MATRIX)
    sp1 = jaspar_motif("MA0079")
    frame = jaspar_enrichment(importance, tokens, motifs=[tbp, sp1], q=0.15, n_perm=200)
    top = frame.iloc[0]
    assert top["name"] == "TBP" and top["enriched"] and top["odds_ratio"] > 1
    assert set(frame.columns) >= {"matrix_id", "odds_ratio", "p_composition", "p_spatial"}
    assert top["q_composition"] < 0.05 and top["q_spatial"] < 0.05
    assert not frame.set_index("name").loc["SP1", "enriched"]


def test_select_motifs_by_id_and_information():
    every = jaspar_motifs()
    assert len(every) > 500
    chosen = select_motifs(every, ids=["MA0108"], top_n=2)
    assert chosen[0].base_id == "MA0108" and len(chosen) == 3
    rest = [information_content(m) for m in every if m not in chosen]
    assert min(information_content(m) for m in chosen[1:]) >= max(rest)


@pytest.mark.parametrize("matrix_id", ["MA0108", "MA0079"])
def test_fast_threshold_agrees_with_biopython(matrix_id):
    pssm = pssm_of(jaspar_motif(matrix_id))
    reference = pssm.distribution(precision=10**3).threshold_fpr(1e-4)
    assert score_threshold(pssm, 1e-4) == pytest.approx(reference, abs=0.02)
    assert score_threshold(pssm, 1e-3) < score_threshold(pssm, 1e-4)
