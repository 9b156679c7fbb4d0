"""Do important positions fall on known motifs? Planted motifs, the TSS region, JASPAR hits.

Per dataset, by what its test split carries:

- ``motif_mask`` (synthetic, planted motifs): top-k precision / recall / fold enrichment / AUROC
  per model over seeds, and recovery per planted motif;
- ``tss_index`` (promoters): mean relative importance by offset from the TSS over the positive
  sequences (a profile per model) and the enrichment of the TATA window and of TBP hits;
- real sequences (no planted motifs): JASPAR 2024 CORE motifs scanned once, the enrichment of
  each model's important positions in each motif's hits.

Every analysis reads the rows each run recorded (``RunResult.importance_index``: a seeded,
class-balanced subset of the test split, the same for every seed). Effect sizes are per seed;
the tests (composition-matched and spatial nulls, :mod:`harness.analysis.nulls`) run on the
seed-mean importance of those shared rows, since seeds scoring the same examples are not
independent samples.

The statistics are those of :mod:`harness.analysis.planted`, :mod:`harness.analysis.promoters`,
:mod:`harness.analysis.jaspar` and :mod:`harness.analysis.nulls`; this module only chooses what to
feed them and collects their output into long tables (one ``dataset`` column each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.importance_masks import topk_mask, valid_positions
from harness.analysis.index import StudyIndex
from harness.analysis.intervals import mean_ci
from harness.analysis.jaspar import (
    PROMOTER_MOTIFS,
    hits_enrichment,
    jaspar_motifs,
    scan_motifs,
    select_motifs,
)
from harness.analysis.nulls import null_pvalues, seed_mean_importance
from harness.analysis.planted import motif_recovery, planted_enrichment
from harness.analysis.promoters import positive_rows, promoter_enrichment, tss_profile
from harness.core.results import DatasetRecord, RunResult
from harness.core.subsets import analysis_subset, importance_rows

PLANTED_KEYS = ("precision", "recall", "fold_enrichment", "auroc")
NULL_COLUMNS = ("p_composition", "p_spatial")


@dataclass(frozen=True)
class EnrichmentSettings:
    """How the enrichment tests are run.

    Attributes
    ----------
    q : top / bottom fraction of each sequence's positions compared
    max_sequences : at most this many of the analysed sequences (a balanced share) are scanned
        for JASPAR hits
    jaspar : False skips the JASPAR scan (it needs the pyjaspar database)
    jaspar_ids : JASPAR matrix ids always scanned (default: well-known promoter motifs)
    jaspar_top_n : plus this many of the most informative other motifs
    n_perm : draws of each null (composition-matched, spatial)
    seed : seeds the nulls and the JASPAR share
    """

    q: float = 0.1
    max_sequences: int = 300
    jaspar: bool = True
    jaspar_ids: tuple[str, ...] = tuple(PROMOTER_MOTIFS)
    jaspar_top_n: int = 8
    n_perm: int = 1000
    seed: int = 0


@dataclass
class Enrichment:
    """The enrichment tables of a study (each long, with a ``dataset`` column).

    Attributes
    ----------
    planted : dataset, model, seeds, then for each of :data:`PLANTED_KEYS` ``<key>``,
        ``<key>_ci_lo``, ``<key>_ci_hi`` (mean and t interval over seeds), ``chance precision``,
        ``p_composition`` and ``p_spatial`` (top-k of the seed-mean importance in the motifs)
    motif_recovery : dataset, model, motif, recovery (mean over seeds)
    promoter : dataset, model, seeds, then :func:`promoters.promoter_enrichment`'s columns
    tss_profile : dataset, model, offset, mean_relative_importance, n_sequences (positive
        sequences, seeds pooled)
    jaspar : dataset, model, seeds, then :func:`jaspar.hits_enrichment`'s columns, best 5 per
        model
    jaspar_info : dataset -> ``{"seeds", "n_sequences", "n_motifs"}`` of the scan, or
        ``{"error": why}`` when the scan failed
    """

    planted: pd.DataFrame = field(default_factory=pd.DataFrame)
    motif_recovery: pd.DataFrame = field(default_factory=pd.DataFrame)
    promoter: pd.DataFrame = field(default_factory=pd.DataFrame)
    tss_profile: pd.DataFrame = field(default_factory=pd.DataFrame)
    jaspar: pd.DataFrame = field(default_factory=pd.DataFrame)
    jaspar_info: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Shared:
    """Runs of one dataset that recorded importance on the same test examples.

    Attributes
    ----------
    record : the test split of the first such run's seed
    rows : int (m,) rows of ``record.test`` analysed by every run here
    runs : the runs, in seed order
    importance : per run, (m, L) aligned with ``rows``
    """

    record: DatasetRecord
    rows: np.ndarray
    runs: list[RunResult]
    importance: list[np.ndarray]

    def of(self, model: str) -> tuple[list[int], list[np.ndarray]]:
        """Seeds and importances of ``model``'s runs."""
        chosen = [
            (r.seed, imp)
            for r, imp in zip(self.runs, self.importance, strict=True)
            if r.model == model
        ]
        return [s for s, _ in chosen], [imp for _, imp in chosen]


def _aligned(ids: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """Positions in ``ids`` of each of ``reference``'s ids; None unless they are the same set."""
    if len(ids) != len(reference):
        return None
    if np.array_equal(ids, reference):
        return np.arange(len(ids))
    order = np.argsort(ids, kind="stable")
    at = order[np.clip(np.searchsorted(ids[order], reference), 0, len(ids) - 1)]
    return at if np.array_equal(ids[at], reference) else None


def shared_runs(ix: StudyIndex, ds: str) -> Shared | None:
    """The runs of ``ds`` whose recorded importance covers the first such run's test examples.

    Runs evaluated on other examples (a test split that changed with the seed, another subset)
    are left out rather than pooled, and so are runs whose importance is the same everywhere
    (the constant predictor): their "top 10%" would be an arbitrary tie-break, not a signal.
    None when no run recorded importance on a known split.
    """
    runs = [
        r
        for r in ix.runs(ds)
        if r.importance is not None and len(r.importance) and np.ptp(r.importance) > 0
    ]
    records = [ix.record(ds, r.seed) for r in runs]
    pairs = [(r, rec) for r, rec in zip(runs, records, strict=True) if rec is not None]
    if not pairs:
        return None
    first, record = pairs[0]
    rows = importance_rows(first)
    reference = np.asarray(record.test.ids)[rows]
    kept, imps = [], []
    for r, rec in pairs:
        at = _aligned(np.asarray(rec.test.ids)[importance_rows(r)], reference)
        if at is not None:
            kept.append(r)
            imps.append(np.asarray(r.importance, dtype=np.float64)[at])
    return Shared(record, rows, kept, imps)


def _planted_row(model: str, per_seed: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "seeds": len(per_seed)}
    for key in PLANTED_KEYS:
        mean, lo, hi = mean_ci([e[key] for e in per_seed])
        row.update({key: mean, f"{key}_ci_lo": lo, f"{key}_ci_hi": hi})
    row["chance precision"] = float(np.nanmean([e["chance_precision"] for e in per_seed]))
    return row


def planted_tables(
    ix: StudyIndex, ds: str, settings: EnrichmentSettings
) -> tuple[list[dict], list[dict]]:
    """Planted-motif enrichment and per-motif recovery rows of one dataset."""
    shared = shared_runs(ix, ds)
    if shared is None:
        return [], []
    test, rows = shared.record.test, shared.rows
    mask = np.asarray(test.annotations["motif_mask"], dtype=bool)[rows]
    ids = test.annotations.get("motif_id")
    tokens = np.asarray(test.tokens)[rows]
    out, recovery = [], []
    for model in ix.models(ds):
        _, imps = shared.of(model)
        if not imps:
            continue
        row = _planted_row(model, [planted_enrichment(imp, mask) for imp in imps])
        # k = planted positions of each sequence, as for precision; tested on the seed mean
        selected = topk_mask(seed_mean_importance(imps, tokens < 4), mask.sum(axis=1))
        nulls = null_pvalues(selected, mask, tokens, settings.n_perm, settings.seed)
        out.append({"dataset": ds, **row, **{k: nulls[k] for k in NULL_COLUMNS}})
        if ids is None:
            continue
        frames = [
            motif_recovery(imp, mask, np.asarray(ids)[rows], shared.record.meta.get("motifs"))
            for imp in imps
        ]
        joined = pd.concat(frames).groupby("motif")["recovery"].mean()
        recovery += [
            {"dataset": ds, "model": model, "motif": str(k), "recovery": float(v)}
            for k, v in joined.items()
        ]
    return out, recovery


def promoter_tables(
    ix: StudyIndex, ds: str, settings: EnrichmentSettings
) -> tuple[list[pd.DataFrame], list[dict]]:
    """TATA window / TBP hits enrichment (seed-mean importance) and the TSS profile of the
    positive sequences (seeds pooled), per model."""
    shared = shared_runs(ix, ds)
    if shared is None:
        return [], []
    test, rows = shared.record.test, shared.rows
    tokens = np.asarray(test.tokens)[rows]
    tss = np.asarray(test.annotations["tss_index"])[rows]
    positive = positive_rows(np.asarray(test.labels)[rows], shared.record.task)
    frames, profile = [], []
    for model in ix.models(ds):
        seeds, imps = shared.of(model)
        if not imps:
            continue
        if positive.any():
            prof = tss_profile(
                np.concatenate([imp[positive] for imp in imps]), np.tile(tss[positive], len(imps))
            )
            profile += [
                {
                    "dataset": ds,
                    "model": model,
                    "offset": int(o),
                    "mean_relative_importance": float(v),
                    "n_sequences": int(c),
                }
                for o, v, c in zip(
                    prof["offset"],
                    prof["mean_relative_importance"],
                    prof["n_sequences"],
                    strict=True,
                )
            ]
        mean = seed_mean_importance(imps, valid_positions(tokens))
        enr = promoter_enrichment(
            mean,
            tokens,
            tss,
            q=settings.q,
            with_tss=positive,
            n_perm=settings.n_perm,
            seed=settings.seed,
        )
        enr.insert(0, "seeds", len(seeds))
        enr.insert(0, "model", model)
        enr.insert(0, "dataset", ds)
        frames.append(enr)
    return frames, profile


def jaspar_tables(
    ix: StudyIndex, ds: str, settings: EnrichmentSettings
) -> tuple[list[pd.DataFrame], dict[str, Any] | None]:
    """JASPAR hits enrichment of each model's seed-mean importance on a balanced share of the
    analysed rows.

    Returns
    -------
    frames : per model its best 5 motifs (by the larger of its two p-values)
    info : the scan's seeds, number of sequences and motifs, or ``{"error": ...}``; None when
        nothing was scanned (no importance, no recorded split)
    """
    shared = shared_runs(ix, ds)
    if shared is None:
        return [], None
    test = shared.record.test
    labels = np.asarray(test.labels)[shared.rows]
    share = analysis_subset(labels, shared.record.task, settings.max_sequences, settings.seed)
    tokens = np.asarray(test.tokens)[shared.rows[share]]
    try:
        chosen = select_motifs(
            jaspar_motifs(), ids=settings.jaspar_ids, top_n=settings.jaspar_top_n
        )
        scanned = scan_motifs(tokens, chosen)
    except Exception as err:  # an unusable JASPAR install should not sink the whole analysis
        return [], {"error": f"{type(err).__name__}: {err}"}
    valid = valid_positions(tokens)
    frames = []
    for model in ix.models(ds):
        seeds, imps = shared.of(model)
        if not imps:
            continue
        mean = seed_mean_importance([imp[share] for imp in imps], valid)
        enr = hits_enrichment(
            mean, scanned, tokens, settings.q, n_perm=settings.n_perm, seed=settings.seed
        )
        enr.insert(0, "seeds", len(seeds))
        enr.insert(0, "model", model)
        enr.insert(0, "dataset", ds)
        frames.append(enr.head(5))
    info = {
        "seeds": sorted({int(r.seed) for r in shared.runs}),
        "n_sequences": len(tokens),
        "n_motifs": len(chosen),
    }
    return frames, info


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def enrichment(ix: StudyIndex, settings: EnrichmentSettings | None = None) -> Enrichment:
    """Every enrichment table of the study (see :class:`Enrichment`).

    A dataset is tested only when some run recorded per-position importance on it. Datasets with
    planted motifs get only the planted-motif tables; others get the promoter tables when they
    carry a TSS and the JASPAR scan when ``settings.jaspar``.
    """
    settings = settings or EnrichmentSettings()
    planted, recovery, promoter, profile, jaspar = [], [], [], [], []
    info: dict[str, dict[str, Any]] = {}
    for ds in ix.datasets:
        if not any(r.importance is not None for r in ix.runs(ds)):
            continue
        recs = ix.dataset_records(ds)
        annotations = recs[0].test.annotations if recs else {}
        if "motif_mask" in annotations:
            rows, rec_rows = planted_tables(ix, ds, settings)
            planted += rows
            recovery += rec_rows
            continue
        if "tss_index" in annotations:
            frames, prof = promoter_tables(ix, ds, settings)
            promoter += frames
            profile += prof
        if recs and settings.jaspar:
            frames, found = jaspar_tables(ix, ds, settings)
            jaspar += frames
            if found is not None:
                info[ds] = found
    return Enrichment(
        planted=pd.DataFrame(planted),
        motif_recovery=pd.DataFrame(recovery),
        promoter=_concat(promoter),
        tss_profile=pd.DataFrame(profile),
        jaspar=_concat(jaspar),
        jaspar_info=info,
    )
