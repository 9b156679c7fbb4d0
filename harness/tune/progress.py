"""What the terminal shows while tuning: trial counts by state and the live progress line."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.config.tune import TunePlan
from harness.tune.heartbeat import requeued_failures

# one console for the whole search, so that messages print above the live line, not into it
console = Console(stderr=True, soft_wrap=True)


@dataclass
class TrialSummary:
    """Finished trials by state and the best COMPLETE one (None before the first)."""

    n_complete: int = 0
    n_pruned: int = 0
    n_fail: int = 0
    best: FrozenTrial | None = None

    @property
    def n_finished(self) -> int:
        return self.n_complete + self.n_pruned + self.n_fail


def summarize(trials: list[FrozenTrial], direction: str) -> TrialSummary:
    """Counts by state (re-queued failures excluded: their retry stands in) and the best trial."""
    replaced = requeued_failures(trials)
    s = TrialSummary()
    sign = -1.0 if direction == "minimize" else 1.0
    for t in trials:
        if t.state == TrialState.COMPLETE:
            s.n_complete += 1
            if s.best is None or sign * t.value > sign * s.best.value:
                s.best = t
        elif t.state == TrialState.PRUNED:
            s.n_pruned += 1
        elif t.state == TrialState.FAIL and t.number not in replaced:
            s.n_fail += 1
    return s


class TuneProgress:
    """One live line: trials done / total, best value, pruned and failed counts."""

    def __init__(self, plan: TunePlan, n_trials: int | None, enabled: bool) -> None:
        self.plan = plan
        self.progress = Progress(
            TextColumn(f"[bold]tune {plan.study.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.task = self.progress.add_task("trials", total=n_trials, info="")

    def refresh(self, study: optuna.Study) -> None:
        """Re-read the stored trials (other workers' included) and redraw the line."""
        s = summarize(study.get_trials(deepcopy=False), self.plan.direction)
        best = "—" if s.best is None else f"{s.best.value:.4g}"
        info = f"best {self.plan.metric}={best} · pruned {s.n_pruned} · failed {s.n_fail}"
        self.progress.update(self.task, completed=s.n_finished, info=info)

    def __enter__(self) -> TuneProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
