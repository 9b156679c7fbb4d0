"""What one trial computes: its drawn parameters trained on train/val, scored by the objective.

The test split is never read here; the pruner sees the objective after every epoch.
"""

from __future__ import annotations

import math

import optuna
from pydantic import BaseModel

from harness.config.study import TrainConfig
from harness.config.tune import TunePlan
from harness.core.dataset import SequenceDataset
from harness.core.errors import UserError
from harness.run.tracking import Tracker
from harness.train.unit import fit_unit


def report_epoch(trial: optuna.Trial, metric: str, epoch: int, metrics: dict[str, float]) -> None:
    """The pruning hook: report ``metric`` for ``epoch``, raise TrialPruned if the pruner says so.

    Raises
    ------
    UserError
        ``metric`` is not among the epoch's validation metrics (a wrong objective name).
    optuna.TrialPruned
        The curve so far is worse than the pruner tolerates.
    """
    if metric not in metrics:
        valid = sorted(k for k in metrics if k.startswith("val_"))
        raise UserError(
            f"tune.objective.metric: {metric!r} is not computed for this task "
            f"(valid: {', '.join(valid)})"
        )
    value = float(metrics[metric])
    if not math.isfinite(value):
        return  # a NaN final value fails the trial; the pruner only compares finite values
    trial.report(value, epoch)
    if trial.should_prune():
        raise optuna.TrialPruned(f"pruned after epoch {epoch}: {metric} = {value:.4g}")


def objective_value(curves: dict[str, list[float]], best_epoch: int, metric: str) -> float:
    """The objective at the epoch whose weights training kept (the model a user would get)."""
    curve = curves.get(metric, [])
    if not curve:
        return float("nan")
    return float(curve[best_epoch - 1] if 1 <= best_epoch <= len(curve) else curve[-1])


def train_trial(
    plan: TunePlan,
    dataset: SequenceDataset,
    tracker: Tracker,
    trial: optuna.Trial,
    run_id: str,
) -> float:
    """Draw the trial's values, fit the tuned model with them and return the objective.

    Parameters, per-epoch metrics and the outcome go to the trial's MLflow run ``run_id``.

    Raises
    ------
    optuna.TrialPruned
        The pruner stopped the trial.
    ValueError
        The objective is not finite (the trial fails).
    """
    values = {p.name: p.suggest(trial) for p in plan.space}

    def log_setup(params: BaseModel, cfg: TrainConfig) -> None:
        tracker.log_params(
            run_id,
            {
                "tuned": values,
                "model": params.model_dump(),
                "train": cfg.model_dump(),
                "dataset": plan.dataset.key,
                "seed": plan.seed,
            },
        )

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        tracker.log_metrics(run_id, metrics, step=epoch)
        report_epoch(trial, plan.metric, epoch, metrics)

    fitted = fit_unit(
        plan.study,
        plan.spec_with(values),
        dataset,
        plan.seed,
        on_start=log_setup,
        on_epoch=on_epoch,
    ).fitted
    value = objective_value(fitted.curves, fitted.best_epoch, plan.metric)
    tracker.log_metrics(
        run_id,
        {
            "objective": value,
            "best_epoch": float(fitted.best_epoch),
            "epochs_run": float(fitted.epochs_run),
            "train_seconds": fitted.train_seconds,
        },
    )
    if not math.isfinite(value):
        raise ValueError(f"the objective {plan.metric} is {value}")
    return value
