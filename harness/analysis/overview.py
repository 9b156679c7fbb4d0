"""What the study ran on: datasets, models as resolved, leakage between splits, noise ceilings."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.index import StudyIndex

DATASET_COLUMNS = ["dataset", "task", "length", "test examples", "source", "seeds"]
MODEL_COLUMNS = ["model", "registered name", "params", "runs"]


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
