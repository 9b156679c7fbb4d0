"""What a claim is measured on: datasets and runs found by selector, values read by metric key.

A claim (:class:`harness.config.claims.ClaimSpec`) names its runs and datasets as data. This module
turns those selectors into a :class:`Target` (one dataset, the candidate runs and the reference
runs) and holds the registry of measurement kinds, each a function ``(claim, target, options) ->
Measure`` registered with :func:`measurement`. Nothing here knows a model or dataset by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.intervals import UNBOUNDED, mean_ci, metric_bounds
from harness.config.claims import KINDS, ClaimSpec, DatasetSelector, RunSelector
from harness.core.results import DatasetRecord, RunResult

Results = Sequence[RunResult]
# The evidence a verdict needs (harness.analysis.claims): fewer seeds or test examples leave
# every claim inconclusive.
MIN_SEEDS, MIN_EXAMPLES = 3, 30
Records = Sequence[DatasetRecord]


@dataclass(frozen=True)
class Measure:
    """A measured value with its 95% CI, the weak baseline beside it and what was measured.

    ``exact``: a deterministic figure (a compute field) with no sampling error, its CI the value
    itself; ``n_seeds`` and ``n_examples``: the evidence it rests on (filled by the judge from
    the claim's runs).
    """

    value: float
    lo: float = float("nan")
    hi: float = float("nan")
    constant: float = float("nan")
    basis: str = ""
    note: str = ""
    exact: bool = False
    n_seeds: int = 0
    n_examples: int = 0


class NotTestable(Exception):
    """Raised when the study lacks what a claim needs; the message says why."""


@dataclass(frozen=True)
class Options:
    """Settings shared by every measurement: bootstrap resamples and their seed."""

    n_boot: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class Target:
    """What one claim is measured on.

    Attributes
    ----------
    dataset, task : the dataset label and its task
    label : the candidate runs' model label (labels joined by ', ' for pooled kinds)
    runs : the candidate runs, by seed (pooled kinds: every matching run, in study order)
    reference_label, reference : the reference runs, by seed ('' and () without a reference)
    length : sequence length of the dataset, when a record gives it
    stand_in : the preferred dataset selector this dataset stands in for ('' when it matched it)
    """

    dataset: str
    task: str
    label: str
    runs: tuple[RunResult, ...]
    reference_label: str = ""
    reference: tuple[RunResult, ...] = ()
    length: int | None = None
    stand_in: str = ""

    @property
    def where(self) -> str:
        """The dataset as a basis starts with it, noting a stand-in."""
        return f"{self.dataset} (stand-in for {self.stand_in})" if self.stand_in else self.dataset


Measurement = Callable[[ClaimSpec, Target, Options], Measure]
RunFilter = Callable[[ClaimSpec, RunResult], bool]
TargetCheck = Callable[[ClaimSpec, Target], bool]


@dataclass(frozen=True)
class Kind:
    """A registered measurement kind.

    Attributes
    ----------
    measure : the measurement
    keep : which candidate runs it can use (e.g. runs with masking curves)
    pooled : whether it reads every run the selector matches on a dataset, across labels
    usable : whether a dataset's target can be measured; else the next dataset is tried
    """

    measure: Measurement
    keep: RunFilter
    pooled: bool
    usable: TargetCheck


MEASUREMENTS: dict[str, Kind] = {}


def _every_run(claim: ClaimSpec, run: RunResult) -> bool:
    return True


def _any_target(claim: ClaimSpec, target: Target) -> bool:
    return True


def measurement(
    name: str,
    *,
    keep: RunFilter | None = None,
    pooled: bool = False,
    usable: TargetCheck | None = None,
) -> Callable[[Measurement], Measurement]:
    """Register a measurement kind under ``name`` (declared in :data:`harness.config.claims.KINDS`,
    which lists the claim fields it reads, so that claims files are checked before training)."""

    def decorator(fn: Measurement) -> Measurement:
        if name not in KINDS:
            raise RuntimeError(f"measurement {name!r} is not declared in harness.config.claims")
        if name in MEASUREMENTS:
            raise RuntimeError(f"measurement {name!r} is registered twice")
        MEASUREMENTS[name] = Kind(fn, keep or _every_run, pooled, usable or _any_target)
        return fn

    return decorator


# -------------------------------------------------------------------------------- values
def run_value(run: RunResult, key: str) -> float:
    """A run's figure under its MLflow metric key; NaN when the run has none.

    ``test_<m>``: a test metric, or a model's own figure from ``evaluation_metrics`` (both are
    logged as ``test_<m>``); ``baseline_test_<m>``: the constant predictor's; anything else: a
    compute field (``n_params``, ``macs_per_seq``, ...).
    """
    if key.startswith("baseline_test_"):
        return float(run.baseline_metrics.get(key.removeprefix("baseline_test_"), np.nan))
    if key.startswith("test_"):
        name = key.removeprefix("test_")
        return float(run.metrics.get(name, run.extra.get(name, np.nan)))
    return float(run.compute.get(key, np.nan))


def metric_key(claim: ClaimSpec, task: str) -> str:
    """The claim's metric key for a dataset of ``task`` ('' when it names none for the task)."""
    if isinstance(claim.metric, dict):
        return claim.metric.get(task, "")
    return claim.metric or ""


def display_name(key: str) -> str:
    """``test_accuracy`` -> ``accuracy``: the metric as the claims' prose names it."""
    return key.removeprefix("test_")


def seed_mean(runs: Sequence[RunResult], key: str) -> Measure:
    """Mean of ``key`` over runs (seeds) with its 95% t interval, kept within the metric's
    bounds (AUROC in [0, 1], Pearson in [-1, 1], ...)."""
    bounds = metric_bounds(display_name(key)) if key.startswith("test_") else UNBOUNDED
    mean, lo, hi = mean_ci([run_value(r, key) for r in runs], bounds=bounds)
    return Measure(mean, lo, hi)


# ----------------------------------------------------------------------------- selection
def _close(a: Any, b: Any) -> bool:
    try:
        return bool(np.isclose(float(a), float(b)))
    except (TypeError, ValueError):
        return a == b


def run_matches(sel: RunSelector, run: RunResult) -> bool:
    """Whether ``run`` has the selector's model name (or label) and params."""
    name_ok = run.model_name == sel.model if sel.model is not None else run.model == sel.label
    return name_ok and all(_close(run.params.get(k), v) for k, v in sel.params.items())


def _adapter(meta: dict[str, Any]) -> str:
    # Adapters record their name as meta["source"] ("genomic_benchmarks/<benchmark>" for some).
    return str(meta.get("adapter") or str(meta.get("source", "")).split("/")[0])


@dataclass(frozen=True)
class DatasetFacts:
    """What selectors match a dataset on."""

    name: str
    task: str
    meta: dict[str, Any]
    length: int | None


def dataset_matches(sel: DatasetSelector, info: DatasetFacts) -> bool:
    """Whether every field the selector gives matches the dataset."""
    return (
        (sel.label is None or sel.label == info.name)
        and (sel.tasks is None or info.task in sel.tasks)
        and (sel.adapter is None or sel.adapter == _adapter(info.meta))
        and all(info.meta.get(k) == v for k, v in sel.meta.items())
    )


def dataset_facts(results: Results, records: Records) -> list[DatasetFacts]:
    """The datasets that have runs, in study order, with their records' meta and length."""
    meta = {rec.dataset: (rec.meta, rec.length) for rec in records}
    tasks = {r.dataset: r.task for r in results}
    return [
        DatasetFacts(name, task, *meta.get(name, ({}, None)))
        for name, task in tasks.items()  # dicts keep first-appearance order
    ]


def _by_seed(runs: Sequence[RunResult]) -> tuple[RunResult, ...]:
    return tuple(sorted(runs, key=lambda r: r.seed))


def pick_runs(
    on_dataset: Results,
    selectors: Sequence[RunSelector],
    keep: Callable[[RunResult], bool],
    pooled: bool = False,
) -> tuple[str, tuple[RunResult, ...]] | None:
    """(label, runs) for the first selector alternative that matches runs ``keep`` accepts.

    The runs are those of the first matching label, by seed; ``pooled``: every matching run, in
    study order, under the labels joined.
    """
    for sel in selectors:
        matched = [r for r in on_dataset if run_matches(sel, r) and keep(r)]
        if not matched:
            continue
        if pooled:
            return ", ".join(dict.fromkeys(r.model for r in matched)), tuple(matched)
        label = matched[0].model
        return label, _by_seed([r for r in matched if r.model == label])
    return None


def _target_on(
    claim: ClaimSpec, kind: Kind, info: DatasetFacts, results: Results, stand_in: str
) -> Target | None:
    """The claim's target on one dataset, or None when the dataset lacks what it needs."""
    if claim.metric is not None and not metric_key(claim, info.task):
        return None  # the claim names no metric for this task
    on_dataset = [r for r in results if r.dataset == info.name]
    candidate = pick_runs(on_dataset, claim.runs, lambda r: kind.keep(claim, r), pooled=kind.pooled)
    reference: tuple[str, tuple[RunResult, ...]] | None = ("", ())
    if claim.reference is not None:
        # the kind's run filter is for the measured runs; any run of the reference will do
        reference = pick_runs(on_dataset, claim.reference, lambda r: True)
    if candidate is None or reference is None:
        return None
    target = Target(
        dataset=info.name,
        task=info.task,
        label=candidate[0],
        runs=candidate[1],
        reference_label=reference[0],
        reference=reference[1],
        length=info.length,
        stand_in=stand_in,
    )
    return target if kind.usable(claim, target) else None


def find_target(claim: ClaimSpec, kind: Kind, results: Results, records: Records) -> Target:
    """The first dataset, in the claim's order of preference, with everything the claim needs.

    Raises
    ------
    NotTestable : no dataset of the study has the runs (the message names what was looked for)
    """
    infos = dataset_facts(results, records)
    tried: set[str] = set()
    for i, sel in enumerate(claim.dataset):
        for info in infos:
            if info.name in tried or not dataset_matches(sel, info):
                continue
            tried.add(info.name)
            stand_in = claim.dataset[0].describe() if i else ""
            target = _target_on(claim, kind, info, results, stand_in)
            if target is not None:
                return target
    raise NotTestable(_missing(claim))


def evidence(target: Target) -> tuple[int, int]:
    """(seeds, test examples) a measurement on ``target`` rests on: the seeds the candidate runs
    share with the reference runs (all of the candidate's without a reference), and the smallest
    test split among those runs."""
    seeds = {r.seed for r in target.runs}
    if target.reference:
        seeds &= {r.seed for r in target.reference}
    runs = [r for r in (*target.runs, *target.reference) if r.seed in seeds]
    examples = min((len(r.y_true) for r in runs), default=0)
    return len(seeds), int(examples)


def _missing(claim: ClaimSpec) -> str:
    runs = " or ".join(s.describe() for s in claim.runs)
    ref = " or ".join(s.describe() for s in claim.reference or [])
    where = "; ".join(s.describe() for s in claim.dataset)
    need = f"runs of {runs}" + (f" and of {ref}" if ref else "")
    return f"no dataset ({where}) has {need} that the {claim.kind!r} measurement can use"
