"""Do a model's important positions fall on known motifs? JASPAR loading, scanning, enrichment.

Real sequences: JASPAR 2024 CORE vertebrate motifs (pyjaspar, offline) scanned with Biopython
PSSMs; the high-importance positions (top ``q`` of each sequence) inside each motif's hits,
tested against a composition-matched and a spatial null (:mod:`harness.analysis.nulls`), each
Benjamini-Hochberg corrected across motifs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from harness.analysis.importance_masks import high_low_masks, high_low_rates, valid_positions
from harness.analysis.nulls import null_pvalues

# Well-known promoter / insulator motifs scanned by default in real-data reports (JASPAR 2024 CORE
# vertebrates): TBP, SP1, NFYA, CTCF, YY1, ELK1, CREB1, NRF1, E2F1, ZNF143, USF1, CEBPA.
PROMOTER_MOTIFS = (
    "MA0108",
    "MA0079",
    "MA0060",
    "MA0139",
    "MA0095",
    "MA0028",
    "MA0018",
    "MA0506",
    "MA0024",
    "MA0088",
    "MA0093",
    "MA0102",
)
_BASES = np.array(list("ACGTNN"))  # tokens -> letters; PAD becomes N so positions keep their place


@functools.lru_cache(maxsize=4)
def _jaspar_db(release: str):
    # deferred: pyjaspar opens its bundled SQLite database; only JASPAR scans need it
    from pyjaspar import jaspardb  # noqa: PLC0415

    return jaspardb(release=release)


@functools.lru_cache(maxsize=8)
def jaspar_motifs(
    release: str = "JASPAR2024", collection: str = "CORE", tax_group: str = "vertebrates"
) -> tuple[Any, ...]:
    """Every latest-version motif of a JASPAR collection (Bio.motifs.jaspar.Motif), cached."""
    return tuple(_jaspar_db(release).fetch_motifs(collection=collection, tax_group=[tax_group]))


@functools.lru_cache(maxsize=256)
def jaspar_motif(matrix_id: str, release: str = "JASPAR2024") -> Any:
    """One motif by id; a base id such as ``"MA0108"`` gives its latest version."""
    motif = _jaspar_db(release).fetch_motif_by_id(matrix_id)
    if motif is None:
        raise KeyError(f"JASPAR {release} has no motif {matrix_id!r}")
    return motif


_PSSMS: dict[tuple[str, str], Any] = {}
_THRESHOLDS: dict[tuple[str, str, float], float] = {}


def _key(motif: Any) -> tuple[str, str]:
    return (str(getattr(motif, "matrix_id", None) or motif.name), str(motif.consensus))


def pssm_of(motif: Any) -> Any:
    """Log-odds PSSM with JASPAR-style pseudocounts (Biopython) against a uniform background."""
    from Bio.motifs import jaspar  # noqa: PLC0415  (heavy Biopython, only for JASPAR scans)

    key = _key(motif)
    if key not in _PSSMS:
        pwm = motif.counts.normalize(pseudocounts=jaspar.calculate_pseudocounts(motif))
        _PSSMS[key] = pwm.log_odds()
    return _PSSMS[key]


def score_threshold(pssm: Any, pvalue: float, step: float = 1e-3) -> float:
    """Score whose right tail under uniform random DNA first reaches ``pvalue``.

    The same exact computation as Biopython's ``pssm.distribution().threshold_fpr(pvalue)``
    (scores discretised to ``step``, the null distribution of the window score built position by
    position), vectorised with numpy: Biopython's pure-Python loop takes seconds per long motif,
    this takes milliseconds. ``tests/harness/analysis/test_jaspar.py`` checks the two agree.
    """
    scores = np.array([[pssm[b][i] for b in "ACGT"] for i in range(pssm.length)])
    ints = np.round(scores / step).astype(np.int64)  # (w, 4) scores on the integer grid
    lows = ints.min(axis=1)
    pmf = np.ones(1)
    for offsets in ints - lows[:, None]:
        # adding one position: each base (probability 1/4) shifts the distribution by its score
        grown = np.zeros(pmf.size + int(offsets.max()))
        for off in offsets:
            grown[off : off + pmf.size] += 0.25 * pmf
        pmf = grown
    tail = np.cumsum(pmf[::-1])[::-1]  # P(score >= grid point)
    index = int(np.flatnonzero(tail >= pvalue)[-1])
    return float((lows.sum() + index) * step)


def motif_threshold(motif: Any, pvalue: float = 1e-4) -> float:
    """PSSM score whose false-positive rate on uniform random DNA is ``pvalue`` (cached)."""
    key = (*_key(motif), pvalue)
    if key not in _THRESHOLDS:
        _THRESHOLDS[key] = score_threshold(pssm_of(motif), pvalue)
    return _THRESHOLDS[key]


def information_content(motif: Any) -> float:
    """Bits of the motif: relative entropy of its pseudocounted PWM to a uniform background.

    Computed with numpy from the counts (not a full PSSM) so ranking ~900 motifs stays fast.
    """
    from Bio.motifs import jaspar  # noqa: PLC0415  (heavy Biopython, only for JASPAR scans)

    pseudo = jaspar.calculate_pseudocounts(motif)
    counts = np.array([np.asarray(motif.counts[b], dtype=np.float64) + pseudo[b] for b in "ACGT"])
    p = counts / counts.sum(axis=0, keepdims=True)
    return float(np.sum(p * np.log2(np.where(p > 0, p, 1.0) / 0.25)))


def select_motifs(
    motifs: Sequence[Any], ids: Sequence[str] | None = None, top_n: int | None = None
) -> list[Any]:
    """The motifs named in ``ids`` (``"MA0108"`` or ``"MA0108.3"``) plus the ``top_n`` most
    informative of the others; with neither, all of them."""
    wanted = set(ids or ())
    named = [m for m in motifs if m.matrix_id in wanted or m.base_id in wanted]
    rest = [m for m in motifs if m not in named]
    if top_n is None:
        return named if wanted else list(motifs)
    return named + sorted(rest, key=information_content, reverse=True)[:top_n]


def motif_hits(tokens: np.ndarray, motif: Any, pvalue: float = 1e-4) -> np.ndarray:
    """Positions covered by a hit of ``motif`` on either strand.

    Parameters
    ----------
    tokens : uint8 (n, L) ; motif : a Bio.motifs Motif ; pvalue : per-window false-positive rate

    Returns
    -------
    bool (n, L)
    """
    tokens = np.asarray(tokens)
    n, length = tokens.shape
    pssm = pssm_of(motif)
    width = pssm.length
    covered = np.zeros((n, length), dtype=bool)
    if width > length or n == 0:
        return covered
    threshold = motif_threshold(motif, pvalue)
    # One scan of all sequences joined by N: windows across a junction score NaN, never a hit.
    text = "N".join("".join(row) for row in _BASES[tokens])
    starts = np.zeros((n, length - width + 1), dtype=bool)
    for strand in (pssm, pssm.reverse_complement()):
        scores = np.asarray(strand.calculate(text), dtype=np.float64)
        scores = np.concatenate([scores, np.full(n * (length + 1) - scores.size, np.nan)])
        scores = scores.reshape(n, length + 1)[:, : length - width + 1]
        starts |= np.nan_to_num(scores, nan=-np.inf) >= threshold
    for offset in range(width):
        covered[:, offset : offset + starts.shape[1]] |= starts
    return covered


def scan_motifs(
    tokens: np.ndarray, motifs: Sequence[Any], pvalue: float = 1e-4
) -> list[tuple[Any, np.ndarray]]:
    """Hit coverage of each motif: ``[(motif, bool (n, L)), ...]`` (N / PAD positions excluded).

    Scanning does not depend on the model, so one scan serves every model's importance.
    """
    valid = valid_positions(tokens)
    return [(motif, motif_hits(tokens, motif, pvalue) & valid) for motif in motifs]


JASPAR_COLUMNS = [
    "matrix_id",
    "name",
    "hit_positions",
    "high_rate",
    "low_rate",
    "odds_ratio",
    "p_composition",
    "p_spatial",
    "q_composition",
    "q_spatial",
    "enriched",
]


def hits_enrichment(
    importance: np.ndarray,
    scanned: Sequence[tuple[Any, np.ndarray]],
    tokens: np.ndarray,
    q: float = 0.1,
    alpha: float = 0.05,
    n_perm: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Top-``q`` importance positions inside each scanned motif's hits, against both nulls.

    Parameters
    ----------
    importance : (n, L) ; scanned : ``[(motif, bool (n, L) hits), ...]`` ; tokens : uint8 (n, L)
    q : top / bottom fraction of each sequence's positions (effect sizes: rates, odds ratio)
    alpha : enriched = both Benjamini-Hochberg q-values below ``alpha`` and odds ratio > 1
    n_perm, seed : draws per null and their seed (:func:`harness.analysis.nulls.null_pvalues`)

    Returns
    -------
    DataFrame (:data:`JASPAR_COLUMNS`) sorted by the larger of the two p-values
    """
    valid = valid_positions(tokens)
    high, _ = high_low_masks(importance, q, valid)
    rows = []
    for motif, hits in scanned:
        rates = high_low_rates(importance, hits, q, valid)
        nulls = null_pvalues(high, hits, tokens, n_perm, seed)
        rows.append(
            {
                "matrix_id": motif.matrix_id,
                "name": motif.name,
                "hit_positions": int(hits.sum()),
                "high_rate": rates["high_rate"],
                "low_rate": rates["low_rate"],
                "odds_ratio": rates["odds_ratio"],
                "p_composition": nulls["p_composition"],
                "p_spatial": nulls["p_spatial"],
            }
        )
    frame = pd.DataFrame(rows, columns=JASPAR_COLUMNS)
    if frame.empty:
        return frame
    for null in ("composition", "spatial"):
        p = frame[f"p_{null}"].to_numpy(dtype=float)
        frame[f"q_{null}"] = multipletests(p, method="fdr_bh")[1]
    frame["enriched"] = (
        (frame["q_composition"] < alpha) & (frame["q_spatial"] < alpha) & (frame["odds_ratio"] > 1)
    )
    worst = frame[["p_composition", "p_spatial"]].max(axis=1)
    order = np.lexsort((frame["matrix_id"].to_numpy(), worst.to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def jaspar_enrichment(
    importance: np.ndarray,
    tokens: np.ndarray,
    motifs: Sequence[Any] | None = None,
    q: float = 0.1,
    pvalue: float = 1e-4,
    top_n: int | None = 20,
    ids: Sequence[str] | None = None,
    alpha: float = 0.05,
    n_perm: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per JASPAR motif: high-importance positions inside motif hits, against both nulls.

    Parameters
    ----------
    importance : (n, L) ; tokens : uint8 (n, L), the same sequences
    motifs : Bio motifs to scan; default the JASPAR 2024 CORE vertebrate motifs named in ``ids``
        plus the ``top_n`` most informative others (:func:`select_motifs`)
    q : top / bottom fraction of each sequence's positions compared
    pvalue : scanning threshold (false-positive rate per window on uniform random DNA)

    n_perm, seed : draws per null and their seed

    Returns
    -------
    :func:`hits_enrichment`'s table
    """
    if motifs is None:
        motifs = select_motifs(jaspar_motifs(), ids=ids, top_n=top_n)
    scanned = scan_motifs(tokens, motifs, pvalue)
    return hits_enrichment(importance, scanned, tokens, q, alpha, n_perm, seed)
