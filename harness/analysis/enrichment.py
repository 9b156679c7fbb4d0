"""Do important positions fall on known motifs? Planted motifs, the TSS region, JASPAR hits.

Per dataset, by what its test split carries:

- ``motif_mask`` (synthetic, planted motifs): top-k precision / recall / fold enrichment / AUROC
  per model over seeds, and recovery per planted motif;
- ``tss_index`` (promoters): mean relative importance by offset from the TSS (a profile per model)
  and Fisher tests in the TATA window and in TBP hits;
- real sequences (no planted motifs): JASPAR 2024 CORE motifs scanned once on the first seed's
  test split, a Fisher test per motif for each model's importance.

The statistics are those of :mod:`harness.analysis.planted`, :mod:`harness.analysis.promoters` and
:mod:`harness.analysis.jaspar`; this module only chooses what to feed them and collects their
output into long tables (one ``dataset`` column each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.importance_masks import valid_positions
from harness.analysis.index import StudyIndex
from harness.analysis.intervals import mean_ci
from harness.analysis.jaspar import (
    PROMOTER_MOTIFS,
    hits_enrichment,
    jaspar_motifs,
    scan_motifs,
    select_motifs,
)
from harness.analysis.planted import motif_recovery, planted_enrichment
from harness.analysis.promoters import promoter_enrichment, tss_profile
from harness.core.results import RunResult

PLANTED_KEYS = ("precision", "recall", "fold_enrichment", "auroc")


@dataclass(frozen=True)
class EnrichmentSettings:
    """How the enrichment tests are run.

    Attributes
    ----------
    q : top / bottom fraction of each sequence's positions compared (Fisher tests)
    max_sequences : at most this many test sequences are scanned for JASPAR hits
    jaspar : False skips the JASPAR scan (it needs the pyjaspar database)
    jaspar_ids : JASPAR matrix ids always scanned (default: well-known promoter motifs)
    jaspar_top_n : plus this many of the most informative other motifs
    """

    q: float = 0.1
    max_sequences: int = 300
    jaspar: bool = True
    jaspar_ids: tuple[str, ...] = tuple(PROMOTER_MOTIFS)
    jaspar_top_n: int = 8


@dataclass
class Enrichment:
    """The enrichment tables of a study (each long, with a ``dataset`` column).

    Attributes
    ----------
    planted : dataset, model, seeds, then for each of :data:`PLANTED_KEYS` ``<key>``,
        ``<key>_ci_lo``, ``<key>_ci_hi`` (mean and t interval over seeds), ``chance precision``
        and ``hypergeom p (max over seeds)``
    motif_recovery : dataset, model, motif, recovery (mean over seeds)
    promoter : dataset, model, then :func:`promoters.promoter_enrichment`'s columns
    tss_profile : dataset, model, offset, mean_relative_importance (seeds pooled)
    jaspar : dataset, model, then :func:`jaspar.hits_enrichment`'s columns, best 5 per model
    jaspar_info : dataset -> ``{"seed", "n_sequences", "n_motifs"}`` of the scan, or
        ``{"error": why}`` when the scan failed
    """

    planted: pd.DataFrame = field(default_factory=pd.DataFrame)
    motif_recovery: pd.DataFrame = field(default_factory=pd.DataFrame)
    promoter: pd.DataFrame = field(default_factory=pd.DataFrame)
    tss_profile: pd.DataFrame = field(default_factory=pd.DataFrame)
    jaspar: pd.DataFrame = field(default_factory=pd.DataFrame)
    jaspar_info: dict[str, dict[str, Any]] = field(default_factory=dict)


def _with_importance(runs: list[RunResult]) -> list[RunResult]:
    return [r for r in runs if r.importance is not None and len(r.importance)]


def _planted_row(model: str, per_seed: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "seeds": len(per_seed)}
    for key in PLANTED_KEYS:
        mean, lo, hi = mean_ci([e[key] for e in per_seed])
        row.update({key: mean, f"{key}_ci_lo": lo, f"{key}_ci_hi": hi})
    row["chance precision"] = float(np.nanmean([e["chance_precision"] for e in per_seed]))
    row["hypergeom p (max over seeds)"] = float(np.nanmax([e["hypergeom_p"] for e in per_seed]))
    return row


def planted_tables(ix: StudyIndex, ds: str) -> tuple[list[dict], list[dict]]:
    """Planted-motif enrichment and per-motif recovery rows of one dataset."""
    rows, recovery = [], []
    for model in ix.models(ds):
        per_seed, rec_frames = [], []
        for r in ix.runs(ds, model):
            record = ix.record(ds, r.seed)
            if r.importance is None or record is None:
                continue
            m = len(r.importance)
            mask = np.asarray(record.test.annotations["motif_mask"])[:m]
            per_seed.append(planted_enrichment(r.importance, mask))
            if "motif_id" in record.test.annotations:
                rec_frames.append(
                    motif_recovery(
                        r.importance,
                        mask,
                        np.asarray(record.test.annotations["motif_id"])[:m],
                        record.meta.get("motifs"),
                    )
                )
        if not per_seed:
            continue
        rows.append({"dataset": ds, **_planted_row(model, per_seed)})
        if rec_frames:
            joined = pd.concat(rec_frames).groupby("motif")["recovery"].mean()
            recovery += [
                {"dataset": ds, "model": model, "motif": str(k), "recovery": float(v)}
                for k, v in joined.items()
            ]
    return rows, recovery


def promoter_tables(ix: StudyIndex, ds: str, q: float) -> tuple[list[pd.DataFrame], list[dict]]:
    """Fisher tests in the TATA window / TBP hits and the TSS profile, per model (seeds pooled)."""
    frames, profile = [], []
    for model in ix.models(ds):
        imps, toks, tss = [], [], []
        for r in ix.runs(ds, model):
            record = ix.record(ds, r.seed)
            if r.importance is None or record is None:
                continue
            m = len(r.importance)
            imps.append(np.asarray(r.importance, dtype=np.float64))
            toks.append(record.test.tokens[:m])
            tss.append(np.asarray(record.test.annotations["tss_index"])[:m])
        if not imps:
            continue
        imp, tok, ts = np.concatenate(imps), np.concatenate(toks), np.concatenate(tss)
        prof = tss_profile(imp, ts)
        profile += [
            {"dataset": ds, "model": model, "offset": int(o), "mean_relative_importance": float(v)}
            for o, v in zip(prof["offset"], prof["mean_relative_importance"], strict=True)
        ]
        enr = promoter_enrichment(imp, tok, ts, q=q)
        enr.insert(0, "model", model)
        enr.insert(0, "dataset", ds)
        frames.append(enr)
    return frames, profile


def jaspar_tables(
    ix: StudyIndex, ds: str, settings: EnrichmentSettings
) -> tuple[list[pd.DataFrame], dict[str, Any] | None]:
    """JASPAR hits enrichment of each model's importance on the first seed's test split.

    Returns
    -------
    frames : per model its best 5 motifs (by p-value)
    info : the scan's seed, number of sequences and motifs, or ``{"error": ...}``; None when
        nothing was scanned (no importance, no recorded split)
    """
    runs = _with_importance(ix.runs(ds))
    if not runs:
        return [], None
    seed = runs[0].seed
    record = ix.record(ds, seed)
    if record is None:
        return [], None
    n = min(settings.max_sequences, min(len(r.importance) for r in runs if r.seed == seed))
    tokens = record.test.tokens[:n]
    try:
        chosen = select_motifs(
            jaspar_motifs(), ids=settings.jaspar_ids, top_n=settings.jaspar_top_n
        )
        scanned = scan_motifs(tokens, chosen)
    except Exception as err:  # an unusable JASPAR install should not sink the whole analysis
        return [], {"error": f"{type(err).__name__}: {err}"}
    valid = valid_positions(tokens)
    frames = []
    for r in runs:
        if r.seed != seed:
            continue
        enr = hits_enrichment(r.importance[:n], scanned, valid, settings.q)
        enr.insert(0, "model", r.model)
        enr.insert(0, "dataset", ds)
        frames.append(enr.head(5))
    return frames, {"seed": int(seed), "n_sequences": int(n), "n_motifs": len(chosen)}


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
            rows, rec_rows = planted_tables(ix, ds)
            planted += rows
            recovery += rec_rows
            continue
        if "tss_index" in annotations:
            frames, prof = promoter_tables(ix, ds, settings.q)
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
