"""A resumed study's finished runs as teachers: a model trained by an earlier process is filed in
the unit's :class:`~harness.train.fit.TrainedMemo` under its weights key and fetched from its
logged model only when a student's ``prepare`` asks for an identical teacher, so resuming a study
does not train that teacher a second time (the weights are the same either way: training is
deterministic given the key).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.run.logged_model import logged_state_dict
from harness.run.tracking import Tracker
from harness.train.fit import FitResult, Trained, TrainedMemo


def defer_kept(
    memo: TrainedMemo,
    key_of: Callable[[], str],
    monitor: str,
    tracker: Tracker,
    parent: str,
    name: str,
) -> None:
    """File the kept child ``name`` of ``parent`` in the unit's memo under its weights key
    (``key_of()``, computed only if a teacher is looked up; empty: a closed-form model), fetched
    from its logged model only if a teacher asks for that key: a resumed study does not train a
    teacher again that a finished run holds. Any failure to fetch means training it again."""

    def fetch() -> Trained | None:
        try:
            runs = tracker.client.search_runs(
                [tracker.experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{parent}' "
                f"and tags.unit_key = '{name}' and attributes.status = 'FINISHED'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
            state = logged_state_dict(tracker.client, runs[0].info.run_id) if runs else None
        except Exception:  # any store or artifact error: the teacher is trained instead
            return None
        if state is None:
            return None
        return Trained(state, _logged_fit(runs[0].data.metrics, monitor))

    memo.pending.append((key_of, fetch))


def _logged_fit(metrics: dict[str, float], monitor: str) -> FitResult:
    """What a finished child logged of its training (``train_one``'s compute figures), as the
    :class:`FitResult` a teacher's ``prepare`` reads."""
    return FitResult(
        best_epoch=int(metrics.get("best_epoch", 0)),
        best_value=float(metrics.get(f"best_val_{monitor}", float("nan"))),
        epochs_run=int(metrics.get("epochs_run", 0)),
        train_seconds=float(metrics.get("train_seconds", 0.0)),
    )
