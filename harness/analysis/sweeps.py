"""Sweeps: datasets of one adapter that differ in exactly one numeric param (e.g. ``length``).

The grouping rule (:func:`find_sweeps`): datasets are grouped by adapter and by every param the
study gave except one numeric param ``p``; a group of two or more datasets, each giving ``p`` a
different finite number, is a sweep over ``p``. So datasets that also differ in a second param
(``length`` and ``n`` together) form no sweep, and neither do datasets of which only some give
``p`` (the others' default is not known here). A study crossing two params (a grid) gives a sweep
over each param at each value of the other.

Only the params the study gave are compared (:func:`dataset_specs`); nothing here reads data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.config.study import StudyConfig

# params with a fixed meaning get a readable axis label; any other is labelled by its name
AXIS_LABELS = {"length": "sequence length (bases)"}
LOG_SPAN = 4  # largest / smallest value from which the axis is logarithmic
SWEEP_COLUMNS = ["value", "dataset", "model", "kind", "mean", "ci_lo", "ci_hi", "seeds"]


@dataclass(frozen=True)
class Sweep:
    """Datasets of one adapter that differ only in ``param``.

    Attributes
    ----------
    adapter : the datasets' adapter
    param : the param that varies
    datasets : (k,) dataset labels, k >= 2, ordered by their value of ``param``
    values : (k,) ``param`` of each dataset, increasing
    fixed : the params every dataset of the sweep shares (``param`` excluded)
    """

    adapter: str
    param: str
    datasets: tuple[str, ...]
    values: tuple[int | float, ...]
    fixed: dict[str, Any]

    @property
    def axis_label(self) -> str:
        return AXIS_LABELS.get(self.param, self.param)

    @property
    def log_scale(self) -> bool:
        """Whether the values span 4x or more (and are positive): such a sweep is usually
        geometric (1k, 4k, 16k), so its points are evenly spaced on a log axis."""
        lo, hi = min(self.values), max(self.values)
        return lo > 0 and hi / lo >= LOG_SPAN


def dataset_specs(study: StudyConfig | None) -> dict[str, dict[str, Any]]:
    """What the study gave each dataset: ``{label: {"adapter": str, "params": {...}}}``.

    Params are passed through JSON (tuples become lists, unknown types strings), so the specs
    compare and read back equal after an Analysis is saved and loaded. Without a study: ``{}``.
    """
    if study is None:
        return {}
    specs = {d.key: {"adapter": d.adapter, "params": d.params} for d in study.datasets}
    return json.loads(json.dumps(specs, default=str))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def find_sweeps(specs: Mapping[str, Mapping[str, Any]]) -> list[Sweep]:
    """The sweeps among ``specs`` (the grouping rule is in the module docstring).

    Parameters
    ----------
    specs : dataset label -> ``{"adapter": str, "params": {...}}`` (:func:`dataset_specs`),
        in the study's order

    Returns
    -------
    Sweeps in the order their first dataset appears in ``specs`` (then by the param's order in
    that dataset's params). A group in which two datasets give ``param`` the same value (their
    specs are identical) is ambiguous and left out.
    """
    groups: dict[str, tuple[str, str, dict[str, Any], list[tuple[int | float, str]]]] = {}
    for ds, spec in specs.items():
        adapter, params = str(spec["adapter"]), dict(spec["params"])
        for param, value in params.items():
            if not _is_number(value):
                continue
            fixed = {k: v for k, v in params.items() if k != param}
            key = json.dumps([adapter, param, fixed], sort_keys=True)
            groups.setdefault(key, (adapter, param, fixed, []))[3].append((value, ds))
    sweeps = []
    for adapter, param, fixed, members in groups.values():
        values = [v for v, _ in members]
        if len(members) < 2 or len(set(values)) < len(values):
            continue
        ordered = sorted(members, key=lambda m: m[0])
        sweeps.append(
            Sweep(
                adapter=adapter,
                param=param,
                datasets=tuple(ds for _, ds in ordered),
                values=tuple(v for v, _ in ordered),
                fixed=fixed,
            )
        )
    return sweeps


def sweep_rows(results: pd.DataFrame, sweep: Sweep, metric: str) -> pd.DataFrame:
    """The results rows of a sweep's datasets on one metric, with the swept param's value.

    Parameters
    ----------
    results : :func:`harness.analysis.headline.results_table` (long: dataset, model, kind,
        metric, mean, ci_lo, ci_hi, seeds), models and framing rows (constant predictor, noise
        ceiling) alike
    sweep : which datasets, and their values
    metric : the one metric shown (the datasets' primary metric)

    Returns
    -------
    DataFrame, columns :data:`SWEEP_COLUMNS`: one row per (dataset, row of results) on
    ``metric``, ordered by value, then in the results' row order; ``value`` as float.
    """
    value_of = dict(zip(sweep.datasets, sweep.values, strict=True))
    if "dataset" not in results.columns:
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    rows = results[results["dataset"].isin(value_of) & (results["metric"] == metric)]
    rows = rows.assign(value=rows["dataset"].map(value_of).astype(float))
    return rows.sort_values("value", kind="stable")[SWEEP_COLUMNS].reset_index(drop=True)
