"""The label-free enrichment selector: canonical k-mer codes, a composition-controlled table that
finds a planted motif, and a sparse transformer that keeps the motif's tokens without labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adapters.long_range_motifs import LongRangeMotifsParams
from adapters.long_range_motifs import load as load_long_range
from harness.core.dataset import PAD_TOKEN
from models.kmer_enrichment import EnrichmentScorer, enrichment_table, kmer_codes
from tests.models.helpers import build, random_tokens

ACGT = {"A": 0, "C": 1, "G": 2, "T": 3}


def _tokens(text: str) -> np.ndarray:
    return np.array([[ACGT.get(c, 4) for c in text]], dtype=np.uint8)


def test_codes_are_canonical_and_skip_n_and_the_end() -> None:
    codes = kmer_codes(_tokens("ACGTTNAC"), 3)[0]
    # ACG (code 6) and its reverse complement CGT (code 27): both read as 6
    assert codes[0] == 6 and kmer_codes(_tokens("CGT"), 3)[0, 0] == 6
    assert codes[1] == 6 and codes[2] == 1  # CGT reads as ACG; GTT as its rc AAC (code 1)
    assert list(codes[3:]) == [-1, -1, -1, -1, -1]  # TTN, TNA, NAC hold N; the last two run off
    torch_codes = kmer_codes(torch.as_tensor(_tokens("ACGTTNAC")), 3)
    assert torch_codes.tolist() == [codes.tolist()]


def test_a_planted_motif_is_the_most_enriched_kmer() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, size=(300, 400), dtype=np.uint8)
    motif = _tokens("GGGACTTTCC")[0]
    starts = rng.integers(0, 390, size=300)
    for row, start in enumerate(starts):
        tokens[row, start : start + 10] = motif if row % 2 else 3 - motif[::-1]
    table = enrichment_table(tokens, 8)
    best = kmer_codes(motif[None], 8)[0, :3]
    others = np.delete(table, best)
    # 8-mers sharing 7 bases with the motif come next (a quarter as many); then background
    assert table[best].min() > others.max() + 1


def test_composition_alone_is_not_enrichment() -> None:
    """GC-rich random sequences: GC-rich k-mers are common but not over-represented."""
    rng = np.random.default_rng(1)
    tokens = rng.choice(4, size=(200, 500), p=[0.15, 0.35, 0.35, 0.15]).astype(np.uint8)
    table = enrichment_table(tokens, 6)
    gc_only = kmer_codes(_tokens("GGCCGC"), 6)[0, 0]  # ~8x as frequent as under uniform bases
    counts = np.bincount(kmer_codes(tokens, 6).ravel() + 1, minlength=4**6 + 1)[1:]
    assert counts[gc_only] > 3 * tokens.size / 4**6
    assert abs(table[gc_only]) < 0.3


def test_window_scores_equal_the_whole_sequence_scores() -> None:
    scorer = EnrichmentScorer(5, pool=4)
    scorer.table.copy_(torch.randn(4**5))
    x = random_tokens(3, 101)
    x[1, 60:] = PAD_TOKEN
    whole = scorer.window(x, 0, 26)
    for first, stop in [(0, 7), (7, 19), (19, 26)]:
        torch.testing.assert_close(scorer.window(x, first, stop), whole[:, first:stop])
    assert torch.isinf(whole[1, 15:]).all() and torch.isfinite(whole[0, :24]).all()


@pytest.mark.parametrize("chunk", [16, 4096])
def test_the_sparse_model_keeps_both_motifs_without_labels(chunk: int) -> None:
    data = load_long_range(LongRangeMotifsParams(n=200, length=2048, flip=0.0), seed=0)
    train, test = data.view("train"), data.view("test")
    model = build(
        "sparse_transformer",
        data.info,
        selector_training="enrichment",
        teacher=False,
        keep_tokens=8,
        select_chunk=chunk,
    )
    fitted = model.prepare(train, data.view("val"), context=None)
    assert fitted["enrichment_max"] > 3
    model.eval()
    recall = model.evaluation_metrics(test)
    # 8 of 512 tokens kept (1.6%): both motifs wholly inside the kept fields nearly always
    assert recall["selector_motif_recall"] > 0.9 and recall["selector_coverage"] < 0.05
