"""A resumed study's finished runs as teachers: a model trained by an earlier process is filed in
the unit's :class:`~harness.train.fit.TrainedMemo` under its weights key and fetched from its
logged model only when a student's ``prepare`` asks for an identical teacher, so resuming a study
does not train that teacher a second time (the weights are the same either way: training is
deterministic given the key).
"""

from __future__ import annotations

from harness.run.logged_model import logged_state_dict
from harness.run.tracking import Tracker
from harness.train.fit import FitResult, Trained, TrainedMemo


def defer_kept(
    memo: TrainedMemo, key: str, monitor: str, tracker: Tracker, parent: str, name: str
) -> None:
    """File the kept child ``name`` of ``parent`` in the unit's memo under its weights ``key``
    (empty: a closed-form model, nothing to file), fetched from its logged model only if a
    teacher asks: a resumed study does not train a teacher again that a finished run holds."""
    if not key:
        return

    def fetch() -> Trained | None:
        runs = tracker.client.search_runs(
            [tracker.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.unit_key = '{name}' "
            "and attributes.status = 'FINISHED'",
            max_results=1,
        )
        state = logged_state_dict(tracker.client, runs[0].info.run_id) if runs else None
        if state is None:
            return None
        return Trained(state, _logged_fit(runs[0].data.metrics, monitor))

    memo.deferred[key] = fetch


def _logged_fit(metrics: dict[str, float], monitor: str) -> FitResult:
    """What a finished child logged of its training (``train_one``'s compute figures), as the
    :class:`FitResult` a teacher's ``prepare`` reads."""
    return FitResult(
        best_epoch=int(metrics.get("best_epoch", 0)),
        best_value=float(metrics.get(f"best_val_{monitor}", float("nan"))),
        epochs_run=int(metrics.get("epochs_run", 0)),
        train_seconds=float(metrics.get("train_seconds", 0.0)),
    )
