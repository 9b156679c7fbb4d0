"""The analysis stage: every table of a study computed once, into one :class:`Analysis`.

``analyze`` is the only place the study's statistics run (summary, significance, enrichment
scans, ablation summaries, compute, claims). Everything downstream reads the Analysis: the
parent run's metrics and ``tables/``, the console summary and the report, which renders it and
computes nothing. Saved with :meth:`Analysis.save` it is the parent run's ``analysis/``
artifact folder, from which ``harness report RUN_ID`` rebuilds the page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import pandas as pd

from harness.analysis.bundle import Analysis, StudyMeta
from harness.analysis.claims import judge_claims
from harness.analysis.comparisons import COMPARE_COLUMNS, compare, summary_table
from harness.analysis.compute import compute_table, has_compute
from harness.analysis.enrichment import Enrichment, EnrichmentSettings, enrichment
from harness.analysis.headline import baselines_table, primary_metric, results_table
from harness.analysis.index import StudyIndex
from harness.analysis.leaderboard import SCORE_COLUMNS, Leaderboard, leaderboard
from harness.analysis.masking import ablation_tables
from harness.analysis.overview import (
    datasets_table,
    failures_table,
    leakage_table,
    models_table,
    noise_ceilings,
    settings_table,
)
from harness.analysis.sweeps import dataset_specs
from harness.analysis.traces import importance_maps, learning_curves
from harness.config.claims import ClaimSet, ClaimSpec
from harness.config.study import StudyConfig
from harness.core.errors import UserError
from harness.core.results import DatasetRecord, RunResult

T = TypeVar("T")
NO_CLAIMS = "the study names no claims file (`claims: studies/claims/<file>.yaml`)"


def _guarded(notes: dict[str, str], concern: str, build: Callable[[], T], empty: T) -> T:
    """``build()``, or ``empty`` with the reason in ``notes[concern]`` on a user error.

    A bad setting or unusable input for one concern (e.g. enrichment) should cost that part of
    the report, not the whole analysis.
    """
    try:
        return build()
    except UserError as err:
        notes[concern] = str(err)
        return empty


def _comparisons(
    results: Sequence[RunResult],
    reference: str,
    correction: str,
    n_boot: int,
    seed: int,
    notes: dict[str, str],
) -> pd.DataFrame:
    """:func:`compare` against the reference; an empty table (same columns) and a note if it
    cannot run (no reference runs, unknown correction)."""
    return _guarded(
        notes,
        "comparisons",
        lambda: compare(results, reference, correction=correction, n_boot=n_boot, seed=seed),
        pd.DataFrame(columns=COMPARE_COLUMNS),
    )


def _claims(
    claims: ClaimSet | Sequence[ClaimSpec] | None,
    results: Sequence[RunResult],
    records: Sequence[DatasetRecord],
    n_boot: int,
    seed: int,
) -> tuple[pd.DataFrame, str | None]:
    """The claims table as its producer returns it, and why there is none (None when there is).

    The one place the claims are measured: a study that names a claims file asks for the table,
    so it is shown whatever the verdicts; without one there is nothing to measure.
    """
    if claims is None:
        return pd.DataFrame(), NO_CLAIMS
    return judge_claims(claims, results, records, n_boot=n_boot, seed=seed), None


def _verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """Claims per verdict, in order of first appearance (empty without a verdict column)."""
    if "verdict" not in table.columns:
        return {}
    return {str(k): int(v) for k, v in Counter(table["verdict"].tolist()).items()}


def _leaderboard(ix: StudyIndex, notes: dict[str, str]) -> Leaderboard:
    """The leaderboard across the study's datasets on each one's primary test metric; empty,
    with the reason in ``notes``, for a study of one dataset."""
    if len(ix.datasets) < 2:
        notes["leaderboard"] = (
            "the study has one dataset; a leaderboard ranks models across two or more "
            "(e.g. a suite: `suite: gue_promoters`)"
        )
        return Leaderboard()
    scores = pd.DataFrame(
        [
            [r.dataset, r.model, r.seed, m, r.metrics.get(m, float("nan"))]
            for r in ix.results
            for m in [primary_metric(r.task)]
        ],
        columns=SCORE_COLUMNS,
    )
    return leaderboard(scores)


def study_meta(
    ix: StudyIndex,
    study: str,
    reference: str,
    baselines: Sequence[str],
    settings: Mapping[str, Any],
) -> StudyMeta:
    """What the report says about the study, and the settings the analysis ran with."""
    return StudyMeta(
        study=study,
        reference=reference,
        baselines=tuple(baselines),
        seeds=tuple(int(s) for s in ix.seeds),
        datasets=tuple(ix.datasets),
        tasks={ds: ix.task(ds) for ds in ix.datasets},
        models={ds: tuple(ix.models(ds)) for ds in ix.datasets},
        primary={ds: primary_metric(ix.task(ds)) for ds in ix.datasets},
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        **settings,
    )


def analyze(
    results: Sequence[RunResult],
    records: Sequence[DatasetRecord],
    *,
    reference: str,
    baselines: Sequence[str],
    claims: ClaimSet | Sequence[ClaimSpec] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    correction: str = "holm",
    enrichment_settings: EnrichmentSettings | None = None,
    study: str = "",
    facts: Mapping[str, str] | None = None,
    study_config: StudyConfig | None = None,
    failures: Sequence[Mapping[str, Any]] = (),
) -> Analysis:
    """Compute every table of a study once.

    Parameters
    ----------
    results : the study's successful runs (``RunResult``: test metrics, predictions (n_test,),
        importance (n_test, L), ablation curves, per-epoch curves, compute figures)
    records : the test split of each (dataset, seed) the runs were evaluated on
    reference : model label every other model is compared with (significance, retention)
    baselines : model labels playing the baseline role (e.g. a k-mer regression); each model is
        checked against them. Roles come from the caller, never from model names.
    claims : the study's claims (a validated claims file, ``harness.config.load.study_claims``,
        or a list of its claims); None: no claims table
    n_boot, seed : bootstrap resamples and seed (significance, claims)
    correction : "holm" | "bh" | "bonferroni", across every comparison of the study
    enrichment_settings : motif enrichment options (default :class:`EnrichmentSettings`)
    study : study name (report title)
    facts : shown verbatim in the overview, e.g. ``{"parent_run_id": ..., "tracking_uri": ...}``
    study_config : the study as run (settings table: dataset params, train settings, per-model
        overrides); None lists only what the records say
    failures : the runs that FAILED, as mappings with keys dataset, model, seed, reason

    Returns
    -------
    :class:`Analysis`; a part that cannot be computed (a user error) is empty with the reason in
    ``Analysis.notes``.
    """
    ix = StudyIndex.of(results, records)
    settings = enrichment_settings or EnrichmentSettings()
    notes: dict[str, str] = {}
    meta = study_meta(
        ix,
        study,
        reference,
        baselines,
        {
            "correction": correction,
            "n_boot": int(n_boot),
            "seed": int(seed),
            "enrichment_q": float(settings.q),
            "facts": {str(k): str(v) for k, v in (facts or {}).items() if v},
            "dataset_specs": dataset_specs(study_config),
            "suite": study_config.suite.name if study_config and study_config.suite else "",
        },
    )
    summary = summary_table(ix.results)
    ceilings = noise_ceilings(ix)
    enriched = _guarded(notes, "enrichment", lambda: enrichment(ix, settings), Enrichment())
    areas, curves = _guarded(
        notes, "ablation", lambda: ablation_tables(ix), (pd.DataFrame(), pd.DataFrame())
    )
    per_epoch, keys = _guarded(
        notes, "learning_curves", lambda: learning_curves(ix), (pd.DataFrame(), {})
    )
    claims_frame, claims_note = _claims(claims, ix.results, ix.records, n_boot, seed)
    if claims_note:
        notes["claims"] = claims_note
    costs = compute_table(ix)
    board = _leaderboard(ix, notes)
    if not has_compute(costs):
        notes["compute"] = "no run recorded compute figures"
    return Analysis(
        meta=meta,
        datasets=datasets_table(ix),
        models=models_table(ix),
        leakage=leakage_table(ix),
        settings=settings_table(study_config, ix.records),
        failures=failures_table(failures),
        summary=summary,
        results=results_table(ix, summary, ceilings, reference, baselines),
        baselines=baselines_table(ix, summary, ceilings, baselines),
        comparisons=_comparisons(ix.results, reference, correction, n_boot, seed, notes),
        planted=enriched.planted,
        motif_recovery=enriched.motif_recovery,
        promoter=enriched.promoter,
        tss_profile=enriched.tss_profile,
        jaspar=enriched.jaspar,
        ablation=areas,
        ablation_curves=curves,
        compute=costs,
        claims=claims_frame,
        learning_curves=per_epoch,
        leaderboard=board.table,
        leaderboard_ranks=board.ranks,
        leaderboard_pairs=board.pairs,
        importance_maps=_guarded(notes, "importance", lambda: importance_maps(ix), []),
        noise_ceilings=ceilings,
        curve_keys=keys,
        jaspar_info=enriched.jaspar_info,
        claims_verdicts=_verdict_counts(claims_frame),
        leaderboard_test=board.test,
        notes=notes,
    )
