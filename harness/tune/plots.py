"""The search drawn as PNGs for the parent run (``optuna.visualization.matplotlib``)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import optuna

from harness.tune.reasons import first_line


def plot_pngs(study: optuna.Study) -> tuple[dict[str, bytes], dict[str, str]]:
    """Optimization history, parallel coordinates and parameter importances as PNG bytes.

    Returns
    -------
    (files, skipped): PNG bytes by file name, and the reason each plot that could not be drawn
    was skipped (e.g. parameter importances need at least two finished trials).
    """
    # deferred on purpose: matplotlib.pyplot takes ~0.8 s to import and is needed only here,
    # after the search; its backend must be chosen before pyplot is imported
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # no display in workers, CI or over ssh
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from optuna.visualization import matplotlib as ovm  # noqa: PLC0415

    plots = {
        "optimization_history.png": ovm.plot_optimization_history,
        "parallel_coordinate.png": ovm.plot_parallel_coordinate,
        "param_importances.png": ovm.plot_param_importances,
    }
    files: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    for name, draw in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw(study)
            figure = np.ravel(axes)[0].figure if isinstance(axes, np.ndarray) else axes.figure
            buf = io.BytesIO()
            figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            plt.close(figure)
            files[name] = buf.getvalue()
        except Exception as err:  # too few trials, a single distinct value, ...
            skipped[name] = first_line(err)
            plt.close("all")
    return files, skipped
