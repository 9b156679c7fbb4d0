"""Do a model's important positions fall on motifs? Planted motifs, JASPAR hits and the TATA box.

Three settings:

- synthetic data, where the planted motif positions are the ground truth: precision and recall of
  each sequence's top-k positions, AUROC of importance against the mask, a hypergeometric test of
  the overlap and the recovery of each motif;
- real sequences: JASPAR 2024 CORE vertebrate motifs (pyjaspar, offline) scanned with Biopython
  PSSMs; high-importance positions (top ``q`` of each sequence) against low-importance ones
  (bottom ``q``) by Fisher's exact test per motif, Benjamini-Hochberg corrected;
- promoters with a known TSS: the mean importance profile around the TSS and the enrichment of the
  TATA-box window (-31..-24) and of TBP (MA0108) hits among high-importance positions.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

TATA_WINDOW = (-31, -24)  # relative to the TSS (0 = TSS base), both ends included
TBP_MATRIX = "MA0108"
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


# ---------------------------------------------------------------------------- shared helpers
def topk_mask(
    importance: np.ndarray, k: int | np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """The ``k`` highest-importance positions of each sequence.

    Parameters
    ----------
    importance : (n, L) ; NaN counts as lowest.
    k : int or (n,) ints, positions to take per sequence.
    valid : optional bool (n, L); invalid positions are never taken.

    Returns
    -------
    bool (n, L)
    """
    imp = np.nan_to_num(np.asarray(importance, dtype=np.float64), nan=-np.inf)
    if valid is not None:
        imp = np.where(valid, imp, -np.inf)
    n, length = imp.shape
    # Ties are broken by a fixed random draw, not by position: a constant importance must select
    # like random positions, not like the left end of every sequence.
    tiebreak = np.random.default_rng(0).random(imp.shape)
    order = np.lexsort((tiebreak, -imp), axis=-1)
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(length)[None, :]
    k = np.broadcast_to(np.asarray(k), (n,))
    out = ranks < k[:, None]
    return out & valid if valid is not None else out


def high_low_masks(
    importance: np.ndarray, q: float, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom ``q`` fraction of each sequence's valid positions (at least one each).

    Returns
    -------
    high, low : bool (n, L), disjoint as long as ``q <= 0.5``
    """
    imp = np.asarray(importance, dtype=np.float64)
    valid = np.ones(imp.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    k = np.maximum(1, np.round(q * valid.sum(axis=1))).astype(int)
    k = np.where(valid.any(axis=1), k, 0)
    high = topk_mask(imp, k, valid)
    low = topk_mask(-imp, k, valid) & ~high
    return high, low


def fisher_high_low(
    importance: np.ndarray, feature: np.ndarray, q: float = 0.1, valid: np.ndarray | None = None
) -> dict[str, float]:
    """Are high-importance positions inside ``feature`` more often than low-importance ones?

    Parameters
    ----------
    importance : (n, L) ; feature : bool (n, L), e.g. positions covered by a motif hit
    q : fraction of each sequence's positions called high (top) and low (bottom)
    valid : bool (n, L), positions that count (not PAD / N)

    Returns
    -------
    dict with ``high_in``, ``high_n``, ``low_in``, ``low_n`` (counts), ``high_rate``,
    ``low_rate``, ``odds_ratio`` (sample odds ratio of the 2x2 table) and ``pvalue`` (two-sided
    Fisher exact test)
    """
    high, low = high_low_masks(importance, q, valid)
    feature = np.asarray(feature, dtype=bool)
    table = np.array(
        [
            [np.sum(high & feature), np.sum(high & ~feature)],
            [np.sum(low & feature), np.sum(low & ~feature)],
        ]
    )
    odds, p = stats.fisher_exact(table)
    high_n, low_n = int(table[0].sum()), int(table[1].sum())
    return {
        "high_in": int(table[0, 0]),
        "high_n": high_n,
        "low_in": int(table[1, 0]),
        "low_n": low_n,
        "high_rate": table[0, 0] / high_n if high_n else float("nan"),
        "low_rate": table[1, 0] / low_n if low_n else float("nan"),
        "odds_ratio": float(odds),
        "pvalue": float(p),
    }


def valid_positions(tokens: np.ndarray) -> np.ndarray:
    """bool (n, L): real bases (A, C, G, T); N and PAD positions never count."""
    return np.asarray(tokens) < 4


# ------------------------------------------------------------------------- planted motifs
def sum_of_hypergeometric_sf(observed: int, mean: float, variance: float) -> float:
    """P(X >= observed) for X a sum of independent hypergeometric counts with this mean and
    variance (normal approximation with continuity correction; exact enough for n >> 1)."""
    if variance <= 0:
        return 1.0 if observed <= mean else 0.0
    return float(stats.norm.sf((observed - 0.5 - mean) / np.sqrt(variance)))


def planted_enrichment(
    importance: np.ndarray,
    motif_mask: np.ndarray,
    fraction: float | None = None,
) -> dict[str, float]:
    """How well a model's top-k positions find the planted motifs.

    Parameters
    ----------
    importance : (n, L) per-position importance
    motif_mask : bool (n, L), True at planted positions
    fraction : None -> k = number of planted positions of each sequence (sequences without any
        planted motif are left out); a float -> k = round(fraction * L) for every sequence.

    Returns
    -------
    dict with ``n_sequences``, ``k_total`` (positions selected), ``planted`` (planted positions),
    ``overlap``, ``precision`` and ``recall`` (pooled over sequences; equal when k = planted),
    ``chance_precision`` (the planted share of positions: what random positions score),
    ``fold_enrichment`` (precision / chance), ``hypergeom_p`` (upper tail of the overlap under
    independent per-sequence hypergeometric draws, normal approximation with continuity
    correction; ``chance_precision`` is that null's expected precision)
    and ``auroc`` (importance ranked within each sequence against the mask, pooled).
    """
    imp = np.asarray(importance, dtype=np.float64)
    mask = np.asarray(motif_mask, dtype=bool)
    length = imp.shape[1]
    if fraction is None:
        k = mask.sum(axis=1)
        rows = k > 0
    else:
        k = np.full(len(imp), max(1, round(fraction * length)))
        rows = np.ones(len(imp), dtype=bool)
    imp, mask, k = imp[rows], mask[rows], k[rows]
    nan = float("nan")
    out = {
        "n_sequences": int(rows.sum()),
        "k_total": int(k.sum()),
        "planted": int(mask.sum()),
        "overlap": 0,
        "precision": nan,
        "recall": nan,
        "chance_precision": nan,
        "fold_enrichment": nan,
        "hypergeom_p": nan,
        "auroc": nan,
    }
    if not rows.any() or not mask.any():
        return out
    top = topk_mask(imp, k)
    overlap = int(np.sum(top & mask))
    planted, drawn = int(mask.sum()), int(top.sum())
    # Each sequence is its own urn: drawing k_i of L positions, p_i of them planted. Pooling all
    # positions into one urn understates chance when k_i grows with p_i (k = planted count).
    p_i = mask.sum(axis=1) / length
    expected = float(np.sum(k * p_i))
    variance = float(np.sum(k * p_i * (1 - p_i) * (length - k) / max(length - 1, 1)))
    chance = expected / drawn if drawn else nan
    precision = overlap / drawn if drawn else nan
    # within-sequence percentile: importance scales differ between sequences
    pct = stats.rankdata(np.nan_to_num(imp, nan=-np.inf), axis=1) / length
    auroc = roc_auc_score(mask.ravel(), pct.ravel()) if not mask.all() else nan
    out.update(
        {
            "overlap": overlap,
            "precision": precision,
            "recall": overlap / planted,
            "chance_precision": chance,
            "fold_enrichment": precision / chance,
            "hypergeom_p": sum_of_hypergeometric_sf(overlap, expected, variance),
            "auroc": float(auroc),
        }
    )
    return out


def motif_recovery(
    importance: np.ndarray,
    motif_mask: np.ndarray,
    motif_id: np.ndarray,
    names: Sequence[str] | None = None,
    fraction: float | None = None,
) -> pd.DataFrame:
    """Fraction of each planted motif's positions that land in the top-k.

    Parameters
    ----------
    importance : (n, L) ; motif_mask : bool (n, L) ; motif_id : int (n, L), -1 off motifs
    names : motif names indexed by id (``meta["motifs"]``)
    fraction : as in :func:`planted_enrichment`

    Returns
    -------
    DataFrame with columns motif_id, motif, positions, recovered, recovery, one row per id present
    """
    mask = np.asarray(motif_mask, dtype=bool)
    ids = np.asarray(motif_id)
    length = mask.shape[1]
    k = mask.sum(axis=1) if fraction is None else max(1, round(fraction * length))
    top = topk_mask(importance, k)
    rows = []
    for j in sorted(int(v) for v in np.unique(ids[ids >= 0])):
        at = ids == j
        name = names[j] if names is not None and j < len(names) else str(j)
        hit = int(np.sum(top & at))
        rows.append(
            {
                "motif_id": j,
                "motif": name,
                "positions": int(at.sum()),
                "recovered": hit,
                "recovery": hit / int(at.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["motif_id", "motif", "positions", "recovered", "recovery"])


# ---------------------------------------------------------------------------- JASPAR motifs
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
    this takes milliseconds. ``tests/harness/test_motifs.py`` checks the two agree.
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


def hits_enrichment(
    importance: np.ndarray,
    scanned: Sequence[tuple[Any, np.ndarray]],
    valid: np.ndarray,
    q: float = 0.1,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Fisher test per scanned motif (see :func:`jaspar_enrichment`), BH-corrected."""
    rows = []
    for motif, hits in scanned:
        res = fisher_high_low(importance, hits, q, valid)
        rows.append(
            {
                "matrix_id": motif.matrix_id,
                "name": motif.name,
                "hit_positions": int(hits.sum()),
                "high_rate": res["high_rate"],
                "low_rate": res["low_rate"],
                "odds_ratio": res["odds_ratio"],
                "pvalue": res["pvalue"],
            }
        )
    columns = [
        "matrix_id",
        "name",
        "hit_positions",
        "high_rate",
        "low_rate",
        "odds_ratio",
        "pvalue",
        "q_bh",
        "enriched",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame["q_bh"] = multipletests(frame["pvalue"].to_numpy(dtype=float), method="fdr_bh")[1]
    frame["enriched"] = (frame["q_bh"] < alpha) & (frame["odds_ratio"] > 1)
    return frame.sort_values(["pvalue", "matrix_id"]).reset_index(drop=True)


def jaspar_enrichment(
    importance: np.ndarray,
    tokens: np.ndarray,
    motifs: Sequence[Any] | None = None,
    q: float = 0.1,
    pvalue: float = 1e-4,
    top_n: int | None = 20,
    ids: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Fisher test per JASPAR motif: high- vs low-importance positions inside motif hits.

    Parameters
    ----------
    importance : (n, L) ; tokens : uint8 (n, L), the same sequences
    motifs : Bio motifs to scan; default the JASPAR 2024 CORE vertebrate motifs named in ``ids``
        plus the ``top_n`` most informative others (:func:`select_motifs`)
    q : top / bottom fraction of each sequence's positions compared
    pvalue : scanning threshold (false-positive rate per window on uniform random DNA)

    Returns
    -------
    DataFrame sorted by p-value: matrix_id, name, hit_positions, high_rate, low_rate, odds_ratio,
    pvalue, q_bh (Benjamini-Hochberg), enriched (q_bh < alpha and odds ratio > 1)
    """
    if motifs is None:
        motifs = select_motifs(jaspar_motifs(), ids=ids, top_n=top_n)
    scanned = scan_motifs(tokens, motifs, pvalue)
    return hits_enrichment(importance, scanned, valid_positions(tokens), q, alpha)


# ------------------------------------------------------------------------------- promoters
def tss_profile(importance: np.ndarray, tss_index: np.ndarray) -> pd.DataFrame:
    """Mean importance by position relative to the TSS.

    Each sequence's importance is divided by its own mean first, so that a value of 2 reads "twice
    this sequence's average" and no sequence dominates through its scale.

    Parameters
    ----------
    importance : (n, L) ; tss_index : (n,) 0-based TSS position in each sequence

    Returns
    -------
    DataFrame with columns offset (position - TSS), mean_relative_importance, n_sequences
    """
    imp = np.asarray(importance, dtype=np.float64)
    tss = np.asarray(tss_index, dtype=int)
    scale = np.nanmean(np.abs(imp), axis=1, keepdims=True)
    rel = np.divide(imp, scale, out=np.zeros_like(imp), where=scale > 0)
    offsets = np.arange(imp.shape[1])[None, :] - tss[:, None]
    lo = int(offsets.min())
    flat = (offsets - lo).ravel()
    ok = np.isfinite(rel).ravel()
    total = np.bincount(flat[ok], weights=rel.ravel()[ok])
    count = np.bincount(flat[ok], minlength=len(total))
    keep = count > 0
    return pd.DataFrame(
        {
            "offset": np.arange(lo, lo + len(total))[keep],
            "mean_relative_importance": total[keep] / count[keep],
            "n_sequences": count[keep],
        }
    )


def window_mask(
    tss_index: np.ndarray, length: int, window: tuple[int, int] = TATA_WINDOW
) -> np.ndarray:
    """bool (n, L): positions whose offset from the TSS lies in ``window`` (both ends included)."""
    offsets = np.arange(length)[None, :] - np.asarray(tss_index, dtype=int)[:, None]
    return (offsets >= window[0]) & (offsets <= window[1])


def promoter_enrichment(
    importance: np.ndarray,
    tokens: np.ndarray,
    tss_index: np.ndarray,
    q: float = 0.1,
    window: tuple[int, int] = TATA_WINDOW,
    tbp: Any | None = None,
    pvalue: float = 1e-4,
) -> pd.DataFrame:
    """High- vs low-importance positions in the TATA-box window and in TBP motif hits (Fisher).

    Parameters
    ----------
    importance : (n, L) ; tokens : uint8 (n, L) ; tss_index : (n,)
    tbp : the TBP motif; default JASPAR ``MA0108`` (latest version)

    Returns
    -------
    DataFrame with one row per feature: feature, positions, high_rate, low_rate, odds_ratio, pvalue
    """
    tokens = np.asarray(tokens)
    valid = valid_positions(tokens)
    tbp = tbp if tbp is not None else jaspar_motif(TBP_MATRIX)
    features = {
        f"TATA window {window[0]}..{window[1]}": window_mask(tss_index, tokens.shape[1], window),
        f"TBP {tbp.matrix_id} hits": motif_hits(tokens, tbp, pvalue),
    }
    rows = []
    for name, feature in features.items():
        feature = feature & valid
        res = fisher_high_low(importance, feature, q, valid)
        rows.append(
            {
                "feature": name,
                "positions": int(feature.sum()),
                "high_rate": res["high_rate"],
                "low_rate": res["low_rate"],
                "odds_ratio": res["odds_ratio"],
                "pvalue": res["pvalue"],
            }
        )
    return pd.DataFrame(
        rows, columns=["feature", "positions", "high_rate", "low_rate", "odds_ratio", "pvalue"]
    )
