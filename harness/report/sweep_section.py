"""The sweep section: the primary test metric against a dataset param that the study varies (e.g.
sequence length), one line per model. Present only when the study's datasets form a sweep
(:func:`harness.analysis.sweeps.find_sweeps`); it selects and formats Analysis rows, computing
nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.bundle import Analysis
from harness.analysis.headline import CEILING_ROW, CONSTANT_ROW
from harness.analysis.sweeps import Sweep, find_sweeps, sweep_rows
from harness.report.blocks import Block, Section, Table, Text, ci_column, fmt
from harness.report.plots import sweep_plot

SWEEP_TITLE = "Metric vs dataset parameter"
SWEEP_INTRO = (
    "Datasets of one adapter whose params, as the study gave them, differ in exactly one number "
    "form a sweep over that param (e.g. `length`); datasets that also differ in another param "
    "form none. Per sweep: the primary test metric of each model at each value, mean over seeds "
    "with the 95% t interval over seeds (as in Results), beside the constant predictor (chance) "
    "and, for synthetic data, the noise ceiling."
)
FRAMING = (CONSTANT_ROW, CEILING_ROW)


def _value_column(sweep: Sweep, value: float) -> str:
    return f"{sweep.param} {fmt(value)}"


def _seed_counts(seeds: pd.Series) -> str:
    """Seeds per value: one number when every value has the same, else ``a / b / c``."""
    counts = [fmt(int(c)) if np.isfinite(c) else "—" for c in seeds.to_numpy(dtype=float)]
    return counts[0] if len(set(counts)) == 1 else " / ".join(counts)


def sweep_table(sweep: Sweep, rows: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """One row per model (then the framing rows present), one column per value of the param.

    Parameters
    ----------
    rows : :func:`harness.analysis.sweeps.sweep_rows` of ``sweep``
    models : model labels, in row order

    Returns
    -------
    DataFrame: ``model``, one ``<param> <value>`` column per value (``mean [lo, hi]``, the mean
    alone without an interval, — where the model has no result), ``seeds`` (seeds per value, in
    value order)
    """
    values = [float(v) for v in sweep.values]
    present = [m for m in FRAMING if rows.loc[rows["model"] == m, "mean"].notna().any()]
    out = []
    for model in [*models, *present]:
        # one row per value, NaN where the model has no result there (shown as —)
        mine = rows[rows["model"] == model].set_index("value").reindex(values)
        cells = ci_column(mine, "mean", "ci_lo", "ci_hi")
        out.append(
            {
                "model": model,
                **{_value_column(sweep, v): c for v, c in zip(sweep.values, cells, strict=True)},
                "seeds": "" if model in FRAMING else _seed_counts(mine["seeds"]),
            }
        )
    return pd.DataFrame(out)


def _one_seed_note(rows: pd.DataFrame, models: list[str]) -> str:
    """What to say when some model has a single seed at some value (its interval is NaN)."""
    single = (rows.loc[rows["model"].isin(models), "seeds"] < 2).any()
    return "1 seed: no interval (the mean alone)" if single else ""


def _caption(sweep: Sweep, metric: str, note: str) -> str:
    fixed = ", ".join(f"{k}={fmt(v)}" for k, v in sweep.fixed.items()) or "none"
    caption = (
        f"`{sweep.adapter}` over `{sweep.param}` ({', '.join(sweep.datasets)}; other params: "
        f"{fixed}): test {metric}, mean [95% CI] over seeds"
    )
    return f"{caption}; {note}" if note else caption


def _sweep_blocks(a: Analysis, sweep: Sweep) -> list[Block]:
    """The figure and table of one sweep; nothing when its datasets differ in primary metric."""
    metrics = {a.meta.primary.get(ds) for ds in sweep.datasets}
    if len(metrics) != 1 or None in metrics:
        return []
    metric = str(metrics.pop())
    rows = sweep_rows(a.results, sweep, metric)
    models = [m for m in a.meta.model_labels if m in set(rows["model"])]
    note = _one_seed_note(rows, models)
    return [
        sweep_plot(sweep, metric, rows, models, note),
        Table(sweep_table(sweep, rows, models), _caption(sweep, metric, note)),
    ]


def section_sweeps(a: Analysis) -> Section:
    """The sweep section; without blocks when the study has no sweep (the page then leaves it
    out)."""
    specs = {ds: a.meta.dataset_specs[ds] for ds in a.meta.datasets if ds in a.meta.dataset_specs}
    blocks = [b for sweep in find_sweeps(specs) for b in _sweep_blocks(a, sweep)]
    return Section(SWEEP_TITLE, [Text(SWEEP_INTRO), *blocks] if blocks else [])
