"""What each model cost: parameters, analytic MACs, training time and memory, means over seeds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.index import StudyIndex
from harness.core.results import COMPUTE_FIELDS


def compute_table(ix: StudyIndex) -> pd.DataFrame:
    """Mean over seeds of each :data:`COMPUTE_FIELDS` figure, per dataset and model.

    Returns
    -------
    DataFrame with columns dataset, model, then :data:`COMPUTE_FIELDS` (NaN where no run of the
    model recorded the figure).
    """
    rows = []
    for ds in ix.datasets:
        for model in ix.models(ds):
            runs = ix.runs(ds, model)
            row: dict[str, Any] = {"dataset": ds, "model": model}
            for key in COMPUTE_FIELDS:
                values = [r.compute[key] for r in runs if key in r.compute]
                row[key] = float(np.mean(values)) if values else np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=["dataset", "model", *COMPUTE_FIELDS])


def has_compute(frame: pd.DataFrame) -> bool:
    """Whether any run recorded any compute figure."""
    return not frame.empty and not frame[list(COMPUTE_FIELDS)].isna().all().all()
