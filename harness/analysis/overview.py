"""What the study ran on: datasets, models as resolved, settings, leakage between splits, failed
runs, noise ceilings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.index import StudyIndex
from harness.config.study import StudyConfig
from harness.core.results import DatasetRecord

DATASET_COLUMNS = ["dataset", "task", "length", "test examples", "source", "seeds"]
MODEL_COLUMNS = ["model", "registered name", "params", "runs"]
SETTING_COLUMNS = ["scope", "name", "setting", "value"]
FAILURE_COLUMNS = ["dataset", "model", "seed", "reason"]
# Facts an adapter records in ``meta`` about what loading did, shown under the dataset's settings
# when present (``counts`` is shown as the split sizes).
LOADING_FACTS = (
    "split_source",
    "test_fraction",
    "split_seed",
    "val_carved_from_train",
    "n_train_before_max_train",
    "reverse_complement_added",
    "leakage_dropped",
)


def datasets_table(ix: StudyIndex) -> pd.DataFrame:
    """One row per dataset: task, sequence length, test size and source (first seed's record).

    Returns
    -------
    DataFrame with columns :data:`DATASET_COLUMNS`; length and test size are NaN when the
    dataset has no recorded test split.
    """
    rows = []
    for ds in ix.datasets:
        recs = ix.dataset_records(ds)
        rows.append(
            {
                "dataset": ds,
                "task": ix.task(ds),
                "length": recs[0].length if recs else np.nan,
                "test examples": recs[0].test.labels.shape[0] if recs else np.nan,
                "source": recs[0].meta.get("source", "") if recs else "",
                "seeds": len({r.seed for r in ix.runs(ds)}),
            }
        )
    return pd.DataFrame(rows, columns=DATASET_COLUMNS)


def models_table(ix: StudyIndex) -> pd.DataFrame:
    """One row per model label: registered name, params as resolved (JSON), number of runs."""
    rows = []
    for model in ix.model_labels:
        runs = [r for r in ix.results if r.model == model]
        rows.append(
            {
                "model": model,
                "registered name": runs[0].model_name,
                "params": json.dumps(runs[0].params, sort_keys=True, default=str),
                "runs": len(runs),
            }
        )
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def leakage_table(ix: StudyIndex) -> pd.DataFrame:
    """Sequences shared across splits, per recorded (dataset, seed), where the adapter counted them.

    Adapters of real sequences put ``meta["leakage"]`` (counts per split pair, exact and reverse
    complement) and ``meta["leakage_dropped"]`` on the dataset; synthetic ones do not.

    Returns
    -------
    DataFrame with columns dataset, seed, dropped, then one column per count (``train_test_exact``,
    ...); empty (no rows) when no record has counts.
    """
    rows: list[dict[str, Any]] = []
    for rec in ix.records:
        counts = rec.meta.get("leakage")
        if not isinstance(counts, dict):
            continue
        rows.append(
            {
                "dataset": rec.dataset,
                "seed": rec.seed,
                "dropped": bool(rec.meta.get("leakage_dropped", False)),
                **{str(k): int(v) for k, v in counts.items()},
            }
        )
    frame = pd.DataFrame(rows)
    return frame if rows else pd.DataFrame(columns=["dataset", "seed", "dropped"])


def setting_value(value: Any) -> str:
    """A setting as shown: strings as they are, ``none`` for None, JSON for everything else."""
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _dataset_settings(
    name: str, given: Mapping[str, Any], record: DatasetRecord | None
) -> list[tuple[str, str, str, str]]:
    """The params the study gave a dataset, ``max_train`` / ``max_val`` even when not given, and
    what loading did (first recorded seed)."""
    meta = record.meta if record is not None else {}
    shown = {k: v for k, v in given.items() if k != "adapter"}
    for cap in ("max_train", "max_val"):
        if cap in meta or cap in given:
            shown.setdefault(cap, meta.get(cap))
    rows = [("dataset", name, "adapter", setting_value(given.get("adapter", meta.get("adapter"))))]
    rows += [("dataset", name, k, setting_value(v)) for k, v in shown.items()]
    counts = meta.get("counts")
    if isinstance(counts, dict):
        sizes = " / ".join(str(counts.get(s, 0)) for s in ("train", "val", "test"))
        rows.append(("dataset", name, "split sizes (train / val / test)", sizes))
    rows += [
        ("dataset", name, k, setting_value(meta[k]))
        for k in LOADING_FACTS
        if meta.get(k) is not None
    ]
    return rows


def settings_table(study: StudyConfig | None, records: Sequence[DatasetRecord]) -> pd.DataFrame:
    """What the run was told and what loading did, as ``(scope, name, setting, value)`` rows.

    Scopes: ``dataset`` (name = dataset label: adapter, the params the study gave, ``max_train`` /
    ``max_val``, split sizes and loading facts from the first recorded seed), ``train`` (name
    ``study``: the study's train settings, defaults filled in) and ``model`` (name = model label:
    registered name, its ``train.*`` overrides, model class defaults included, and the
    ``params.*`` the study gave). Without a study only what the records say is listed.

    Returns
    -------
    DataFrame with columns :data:`SETTING_COLUMNS`, every value a string
    """
    first: dict[str, DatasetRecord] = {}
    for rec in records:
        first.setdefault(rec.dataset, rec)
    given = {d.key: {"adapter": d.adapter, **d.params} for d in study.datasets} if study else {}
    rows = []
    for name in dict.fromkeys([*given, *first]):
        rows += _dataset_settings(name, given.get(name, {}), first.get(name))
    if study is not None:
        rows += [
            ("train", "study", k, setting_value(v)) for k, v in study.train.model_dump().items()
        ]
        for m in study.models:
            rows.append(("model", m.key, "registered name", m.name))
            rows += [("model", m.key, f"train.{k}", setting_value(v)) for k, v in m.train.items()]
            rows += [("model", m.key, f"params.{k}", setting_value(v)) for k, v in m.params.items()]
    return pd.DataFrame(rows, columns=SETTING_COLUMNS).astype(str)


def failures_table(failures: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Runs that FAILED: one row per (dataset, model, seed) with the reason recorded.

    failures : mappings with keys ``dataset``, ``model``, ``seed``, ``reason`` (the runner's
    failed runs) -> DataFrame with columns :data:`FAILURE_COLUMNS`
    """
    rows = [
        {
            "dataset": str(f["dataset"]),
            "model": str(f["model"]),
            "seed": int(f["seed"]),
            "reason": str(f["reason"]),
        }
        for f in failures
    ]
    frame = pd.DataFrame(rows, columns=FAILURE_COLUMNS)
    return frame.astype({"dataset": str, "model": str, "seed": int, "reason": str})


def noise_ceilings(ix: StudyIndex) -> dict[str, dict[str, float]]:
    """Per dataset, the noise ceiling of each metric, averaged over its recorded seeds.

    The ceiling (``meta["noise_ceiling"]``, synthetic data only) scores the noiseless label
    against the noisy one: no model can beat it. Datasets without one map to ``{}``.
    """
    out: dict[str, dict[str, float]] = {}
    for ds in ix.datasets:
        ceilings = [d.meta.get("noise_ceiling") or {} for d in ix.dataset_records(ds)]
        keys = sorted({k for c in ceilings for k in c})
        out[ds] = {k: float(np.nanmean([c.get(k, np.nan) for c in ceilings])) for k in keys}
    return out
