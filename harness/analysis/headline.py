"""The headline tables: primary test metrics per model, framed by the weak baselines.

Roles, not names: which models are *baselines* (e.g. a k-mer regression) and which one is the
*reference* is given by the caller; nothing here knows a registered model name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.index import StudyIndex
from harness.core.metrics import LOWER_IS_BETTER, PRIMARY, TASK_METRICS

CONSTANT_ROW = "constant predictor"  # the training mean / class frequency, scored on test
CEILING_ROW = "noise ceiling"
RESULT_COLUMNS = ["dataset", "task", "model", "kind", "metric", "mean", "ci_lo", "ci_hi", "seeds"]


def primary_metric(task: str) -> str:
    """The one metric a dataset's figures and baseline checks use."""
    return PRIMARY.get(task, "accuracy")


def model_kind(model: str, reference: str, baselines: Sequence[str]) -> str:
    """``baseline`` | ``reference`` | ``model``: the role a model label plays in the study."""
    if model in baselines:
        return "baseline"
    return "reference" if model == reference else "model"


def constant_means(summary: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per dataset and metric, the constant predictor's test score.

    Every model of a dataset is scored against the same constant predictor on the same test
    splits, so this is the mean of ``baseline_mean`` over the dataset's models.
    """
    out: dict[str, dict[str, float]] = {}
    for ds, rows in summary.groupby("dataset", sort=False):
        out[str(ds)] = {
            str(k): float(v) for k, v in rows.groupby("metric")["baseline_mean"].mean().items()
        }
    return out


def _model_rows(
    ix: StudyIndex, ds: str, sub: pd.DataFrame, reference: str, baselines: Sequence[str]
) -> list[dict[str, Any]]:
    task = ix.task(ds)
    rows = []
    for model in ix.models(ds):
        mine = sub[sub["model"] == model]
        by_metric = {r.metric: r for r in mine.itertuples()}
        seeds = int(mine["n_seeds"].max()) if len(mine) else 0
        for metric in TASK_METRICS.get(task, ()):
            r = by_metric.get(metric)
            rows.append(
                {
                    "dataset": ds,
                    "task": task,
                    "model": model,
                    "kind": model_kind(model, reference, baselines),
                    "metric": metric,
                    "mean": r.mean if r is not None else np.nan,
                    "ci_lo": r.ci_lo if r is not None else np.nan,
                    "ci_hi": r.ci_hi if r is not None else np.nan,
                    "seeds": float(seeds),
                }
            )
    return rows


def _bound_rows(ds: str, task: str, label: str, kind: str, values: dict[str, float]) -> list[dict]:
    return [
        {
            "dataset": ds,
            "task": task,
            "model": label,
            "kind": kind,
            "metric": metric,
            "mean": values.get(metric, np.nan),
            "ci_lo": np.nan,
            "ci_hi": np.nan,
            "seeds": np.nan,
        }
        for metric in TASK_METRICS.get(task, ())
    ]


def results_table(
    ix: StudyIndex,
    summary: pd.DataFrame,
    ceilings: dict[str, dict[str, float]],
    reference: str,
    baselines: Sequence[str],
) -> pd.DataFrame:
    """Primary test metrics per dataset: each model, the constant predictor, the noise ceiling.

    Parameters
    ----------
    summary : :func:`harness.analysis.comparisons.summary_table` of the study
    ceilings : :func:`harness.analysis.overview.noise_ceilings`
    reference, baselines : model labels, for the ``kind`` column

    Returns
    -------
    Long DataFrame, columns :data:`RESULT_COLUMNS`: one row per dataset x row x primary metric,
    rows in the study's model order, then :data:`CONSTANT_ROW` (kind ``baseline``) and, where the
    dataset has one, :data:`CEILING_ROW` (kind ``ceiling``). ``seeds`` is the number of seeds with
    a finite value (the most over the model's primary metrics), NaN on the two framing rows.
    """
    constants = constant_means(summary)
    rows: list[dict[str, Any]] = []
    for ds in ix.datasets:
        task = ix.task(ds)
        metrics = list(TASK_METRICS.get(task, ()))
        sub = summary[(summary["dataset"] == ds) & summary["metric"].isin(metrics)]
        rows += _model_rows(ix, ds, sub, reference, baselines)
        rows += _bound_rows(ds, task, CONSTANT_ROW, "baseline", constants.get(ds, {}))
        if ceilings.get(ds):
            rows += _bound_rows(ds, task, CEILING_ROW, "ceiling", ceilings[ds])
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def beats(metric: str, lo: float, hi: float, mean: float, other: float) -> Any:
    """Whether the whole CI lies on the better side of ``other``; NA when ``other`` is unknown.

    With a single seed (no interval) the mean stands in for the interval's end.
    """
    if not np.isfinite(other):
        return pd.NA
    if metric in LOWER_IS_BETTER:
        return bool((hi if np.isfinite(hi) else mean) < other)
    return bool((lo if np.isfinite(lo) else mean) > other)


def baselines_table(
    ix: StudyIndex,
    summary: pd.DataFrame,
    ceilings: dict[str, dict[str, float]],
    baselines: Sequence[str],
) -> pd.DataFrame:
    """Does each model beat the constant predictor and each baseline model, per dataset?

    Parameters
    ----------
    baselines : model labels playing the baseline role; only those the study ran get columns

    Returns
    -------
    DataFrame, one row per dataset x model on the dataset's primary metric: dataset, metric,
    model, mean, ci_lo, ci_hi, ``constant predictor`` (its mean on the model's test splits),
    ``beats constant predictor``, then per baseline ``<label>`` (its mean) and ``beats <label>``
    (NA on the baseline's own row or where it did not run), ``noise ceiling`` and
    ``share of ceiling`` (mean / ceiling). "beats" columns are nullable booleans.
    """
    present = [b for b in baselines if b in ix.model_labels]
    rows = []
    for ds in ix.datasets:
        metric = primary_metric(ix.task(ds))
        sub = summary[(summary["dataset"] == ds) & (summary["metric"] == metric)]
        means = {r.model: r.mean for r in sub.itertuples()}
        ceiling = ceilings.get(ds, {}).get(metric, np.nan)
        for r in sub.itertuples():
            row: dict[str, Any] = {
                "dataset": ds,
                "metric": metric,
                "model": r.model,
                "mean": r.mean,
                "ci_lo": r.ci_lo,
                "ci_hi": r.ci_hi,
                CONSTANT_ROW: r.baseline_mean,
                f"beats {CONSTANT_ROW}": beats(metric, r.ci_lo, r.ci_hi, r.mean, r.baseline_mean),
            }
            for b in present:
                other = means.get(b, np.nan)
                row[b] = other
                row[f"beats {b}"] = (
                    pd.NA if r.model == b else beats(metric, r.ci_lo, r.ci_hi, r.mean, other)
                )
            row[CEILING_ROW] = ceiling
            row["share of ceiling"] = (
                r.mean / ceiling if np.isfinite(ceiling) and ceiling else np.nan
            )
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["dataset", "metric", "model", "mean", "ci_lo", "ci_hi"])
    for col in [f"beats {CONSTANT_ROW}", *(f"beats {b}" for b in present)]:
        frame[col] = frame[col].astype("boolean")
    return frame
