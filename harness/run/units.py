"""What a study is cut into and what each piece returns: a (dataset, seed) unit.

Its own module so that the executors (:mod:`harness.run.runner`'s in-process and ``--jobs``
paths, :mod:`harness.run.ray_executor`) share the two types without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.results import DatasetRecord, RunResult
from harness.run.finish import RunFailure


@dataclass
class UnitOutcome:
    """What one (dataset, seed) unit produced; ``user_error`` stops the whole study."""

    record: DatasetRecord | None
    results: list[RunResult] = field(default_factory=list)
    failures: list[RunFailure] = field(default_factory=list)
    user_error: str | None = None


@dataclass(frozen=True)
class UnitPlan:
    """One (dataset, seed) of a study and what a resumed parent already holds of it."""

    dataset_index: int
    seed: int
    done: frozenset[str] = frozenset()  # unit keys finished before: not run again
    record_logged: bool = False  # the parent already holds this dataset record
