"""The :class:`Analysis` of a study: every table and figure datum, computed once, saved as files.

An Analysis is what :func:`harness.analysis.analyze.analyze` returns and what the report renders;
``harness report RUN_ID`` loads it back from the parent run's ``analysis/`` artifacts, so a page
can be rebuilt without the runs, the data or any recomputation.

Folder layout (``Analysis.save``)::

    manifest.json          schema_version, and per table its file, columns and column kinds
    meta.json              StudyMeta, notes, noise ceilings, curve keys, JASPAR scan info,
                           claim verdict counts, importance-map descriptions (key order kept:
                           it is the order things are shown in)
    <table>.csv            one per DataFrame field (summary.csv, comparisons.csv, ...)
    importance_maps.npz    heat_<i>: float64 (n_examples, n_models, L) of importance_maps[i]

CSV values read back exactly (see :mod:`harness.analysis.frames`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.frames import read_frame, write_frame
from harness.analysis.traces import ImportanceMap
from harness.core.errors import UserError

SCHEMA_VERSION = 3  # 2: settings and failures tables; 3: leaderboard tables, meta.suite
MANIFEST = "manifest.json"
META = "meta.json"
MAPS = "importance_maps.npz"


@dataclass(frozen=True)
class StudyMeta:
    """Facts about the study and the settings the analysis ran with.

    Attributes
    ----------
    study : study name
    reference : model label every other model is compared with
    baselines : model labels playing the baseline role
    seeds : every seed with a run
    datasets : dataset labels in the study's order
    tasks : dataset -> "binary" | "multiclass" | "regression"
    models : dataset -> its model labels in the study's order
    primary : dataset -> the headline metric of its figures and baseline checks
    created : when the analysis was computed (UTC, minutes): the page's only time stamp
    correction : multiple-testing correction of the significance tests
    n_boot, seed : bootstrap resamples and seed
    enrichment_q : top / bottom share of positions in the enrichment tests
    facts : shown verbatim in the overview, e.g. ``parent_run_id``, ``tracking_uri``
    dataset_specs : dataset -> ``{"adapter": ..., "params": {...}}`` as the study gave them
        (:func:`harness.analysis.sweeps.dataset_specs`); empty without a study config, and in
        analyses saved before it existed
    suite : the benchmark suite the study ran (``StudyConfig.suite``), "" for none
    """

    study: str
    reference: str
    baselines: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    datasets: tuple[str, ...] = ()
    tasks: dict[str, str] = field(default_factory=dict)
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    primary: dict[str, str] = field(default_factory=dict)
    created: str = ""
    correction: str = "holm"
    n_boot: int = 1000
    seed: int = 0
    enrichment_q: float = 0.1
    facts: dict[str, str] = field(default_factory=dict)
    dataset_specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    suite: str = ""

    @property
    def model_labels(self) -> list[str]:
        """Every model label of the study, in order of first appearance."""
        return list(dict.fromkeys(m for ds in self.datasets for m in self.models.get(ds, ())))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyMeta:
        return cls(
            **{
                **data,
                "baselines": tuple(data.get("baselines", ())),
                "seeds": tuple(data.get("seeds", ())),
                "datasets": tuple(data.get("datasets", ())),
                "models": {k: tuple(v) for k, v in data.get("models", {}).items()},
            }
        )


def _frame() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass
class Analysis:
    """Every number the report shows, and the data behind its figures.

    Attributes
    ----------
    meta : :class:`StudyMeta`
    datasets, models : overview tables (see :mod:`harness.analysis.overview`)
    leakage : sequences shared across splits per (dataset, seed), where counted (exact, reverse
        complement, near-duplicate)
    settings : what the run was told and what loading did, ``(scope, name, setting, value)``
        rows (:func:`harness.analysis.overview.settings_table`)
    failures : runs that FAILED: dataset, model, seed, reason
    summary : :func:`harness.analysis.comparisons.summary_table` (logged as ``tables/summary.csv``)
    results : primary metrics per model, constant predictor and noise ceiling (long)
    baselines : does each model beat the constant predictor and the baseline models
    comparisons : :func:`harness.analysis.comparisons.compare` against the reference
    planted, motif_recovery, promoter, tss_profile, jaspar : enrichment tables
    ablation, ablation_curves : masking-curve areas and mean curves
    compute : cost per dataset and model
    claims : the claims table as its producer returns it (columns as given)
    learning_curves : per-run per-epoch series drawn in the learning-curve figure
    leaderboard, leaderboard_ranks, leaderboard_pairs : across the study's tasks (two or more
        datasets): per task x model score and rank, mean rank per model, pairwise post-hoc
        tests (:class:`harness.analysis.leaderboard.Leaderboard`)
    importance_maps : a few example sequences per dataset (:class:`ImportanceMap`)
    noise_ceilings : dataset -> metric -> ceiling
    curve_keys : dataset -> learning-curve series drawn, in panel order
    jaspar_info : dataset -> JASPAR scan facts (seeds, n_sequences, n_motifs) or ``{"error"}``
    claims_verdicts : verdict -> number of claims, in order of first appearance
    leaderboard_test : the leaderboard's Friedman / Nemenyi figures and its power note
    notes : concern (``comparisons``, ``claims``, ``enrichment``, ...) -> why it has no data
    """

    meta: StudyMeta
    datasets: pd.DataFrame = field(default_factory=_frame)
    models: pd.DataFrame = field(default_factory=_frame)
    leakage: pd.DataFrame = field(default_factory=_frame)
    settings: pd.DataFrame = field(default_factory=_frame)
    failures: pd.DataFrame = field(default_factory=_frame)
    summary: pd.DataFrame = field(default_factory=_frame)
    results: pd.DataFrame = field(default_factory=_frame)
    baselines: pd.DataFrame = field(default_factory=_frame)
    comparisons: pd.DataFrame = field(default_factory=_frame)
    planted: pd.DataFrame = field(default_factory=_frame)
    motif_recovery: pd.DataFrame = field(default_factory=_frame)
    promoter: pd.DataFrame = field(default_factory=_frame)
    tss_profile: pd.DataFrame = field(default_factory=_frame)
    jaspar: pd.DataFrame = field(default_factory=_frame)
    ablation: pd.DataFrame = field(default_factory=_frame)
    ablation_curves: pd.DataFrame = field(default_factory=_frame)
    compute: pd.DataFrame = field(default_factory=_frame)
    claims: pd.DataFrame = field(default_factory=_frame)
    learning_curves: pd.DataFrame = field(default_factory=_frame)
    leaderboard: pd.DataFrame = field(default_factory=_frame)
    leaderboard_ranks: pd.DataFrame = field(default_factory=_frame)
    leaderboard_pairs: pd.DataFrame = field(default_factory=_frame)
    importance_maps: list[ImportanceMap] = field(default_factory=list)
    noise_ceilings: dict[str, dict[str, float]] = field(default_factory=dict)
    curve_keys: dict[str, list[str]] = field(default_factory=dict)
    jaspar_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims_verdicts: dict[str, int] = field(default_factory=dict)
    leaderboard_test: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------------ files
    @classmethod
    def table_names(cls) -> list[str]:
        """The DataFrame fields, in declaration order: one CSV file each."""
        return [f.name for f in dataclasses.fields(cls) if f.default_factory is _frame]

    @classmethod
    def plain_names(cls) -> list[str]:
        """The plain-data (JSON) fields besides ``meta`` and ``importance_maps``."""
        skip = {"meta", "importance_maps", *cls.table_names()}
        return [f.name for f in dataclasses.fields(cls) if f.name not in skip]

    def save(self, folder: Path) -> Path:
        """Write the analysis into ``folder`` (created; same-named files are overwritten).

        Returns
        -------
        the folder
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tables = {
            name: write_frame(getattr(self, name), folder / f"{name}.csv")
            for name in self.table_names()
        }
        meta = {
            "meta": self.meta.to_json(),
            **{name: getattr(self, name) for name in self.plain_names()},
            "importance_maps": [m.describe() for m in self.importance_maps],
        }
        (folder / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        np.savez_compressed(
            folder / MAPS, **{f"heat_{i}": m.heat for i, m in enumerate(self.importance_maps)}
        )
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "study": self.meta.study,
            "created": self.meta.created,
            "tables": tables,
            "files": sorted([META, MAPS, *(spec["file"] for spec in tables.values())]),
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> Analysis:
        """Read an analysis that :meth:`save` wrote.

        Raises
        ------
        UserError : when ``folder`` holds no analysis, or one of another schema version.
        """
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.is_file():
            raise UserError(f"{folder}: no analysis here ({MANIFEST} missing)")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version = manifest.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UserError(
                f"{folder}: analysis schema_version {version!r}; this harness reads "
                f"{SCHEMA_VERSION} (re-run the study with a matching harness version)"
            )
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        with np.load(folder / MAPS, allow_pickle=False) as arrays:
            maps = [
                ImportanceMap.from_description(d, arrays[f"heat_{i}"])
                for i, d in enumerate(meta["importance_maps"])
            ]
        return cls(
            meta=StudyMeta.from_json(meta["meta"]),
            importance_maps=maps,
            **{name: meta[name] for name in cls.plain_names()},
            **{name: read_frame(folder, manifest["tables"][name]) for name in cls.table_names()},
        )
