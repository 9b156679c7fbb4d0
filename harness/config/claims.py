"""Typed claims files: a published claim, what to measure it on, and how to judge it, as data.

A study opts in with ``claims: studies/claims/<file>.yaml``; :func:`harness.config.load.load_claims`
validates the file against :class:`ClaimSet` before any work starts, and
:func:`harness.analysis.claims.judge_claims` measures each claim on the study's runs. Example::

    claims:
      - id: retention_10_pearson
        claim: Sparse attention at 10% sparsity keeps 96.1% of full attention's performance
        source: {file: sparse-attention-paper.md, section: §4.2}
        kind: retention                  # what is measured (see KINDS)
        direction: at_least              # the claim's side (see harness.analysis.claims.verdict)
        value: 0.961
        margin: 0.0005                   # required: half a unit of the last printed digit
        claimed: ">= 96.1%"              # as printed in the table (default: derived)
        runs: {model: sparse_attention, params: {sparsity: 0.1}}
        reference: {model: attention}
        metric: test_pearson             # an MLflow metric key, spelled out
        dataset: [{adapter: synthetic_motifs, task: regression}, {task: regression}]

Selectors given as a list are alternatives in order of preference: the first that matches wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Task = Literal["binary", "multiclass", "regression"]
Direction = Literal["at_least", "at_most", "approx", "above", "gain", "in_range"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class KindFields:
    """The claim fields a measurement kind reads beyond the common ones (:data:`COMMON`)."""

    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()


def _fields(required: str = "", optional: str = "") -> KindFields:
    return KindFields(frozenset(required.split()), frozenset(optional.split()))


# The claim vocabulary. Each kind is implemented by one function in harness.analysis.claims
# (registered under the same name); it is declared here, in the config layer, so that a claims
# file naming an unknown kind or lacking a field is rejected before any training.
KINDS: dict[str, KindFields] = {
    # mean over seeds of one metric of one set of runs, beside a weak baseline (`baseline`)
    "metric": _fields("metric", "baseline"),
    # candidate / reference of a test metric (reference / candidate where lower is better)
    "retention": _fields("reference metric", "reference_must_beat_constant"),
    # reference / candidate of a compute field (e.g. n_params), deterministic
    "ratio": _fields("reference metric"),
    # 1 - candidate / reference of a compute field (e.g. macs_per_seq), deterministic
    "savings": _fields("reference metric"),
    # candidate minus reference of a test metric, paired by seed, times `scale`
    "difference": _fields("reference metric", "scale unit"),
    # the value of `param` whose runs have the best mean `metric`
    "best_param": _fields("metric param"),
    # masking curves: mean of random minus mean of high_to_low
    "ablation_gap": _fields(),
    # masking curves: high_to_low with `masked_fraction` of positions masked, minus the constant
    "ablation_masked": _fields("masked_fraction"),
    # masking curves: high_to_low drop after `masked` positions, times `scale`
    "ablation_drop": _fields("masked", "scale unit"),
}
COMMON = frozenset(
    {"id", "claim", "source", "kind", "direction", "value", "margin", "claimed", "runs"}
    | {"dataset", "note"}
)


class Source(_Strict):
    """Where the claim is printed: a seed text and its section."""

    file: str = Field(min_length=1, description="file name of the seed text, e.g. attngen-paper.md")
    section: str = Field("", description="section, table or 'abstract'")

    def __str__(self) -> str:
        return f"{self.file} {self.section}".strip()


class RunSelector(_Strict):
    """Which runs of a dataset: a registered model name (with params), or a study model label."""

    model: str | None = Field(None, description="registered model name, e.g. sparse_attention")
    label: str | None = Field(None, description="model label in the study")
    params: dict[str, Any] = Field(
        default_factory=dict, description="required values of the run's params (floats: isclose)"
    )

    @model_validator(mode="after")
    def _one_name(self) -> RunSelector:
        if (self.model is None) == (self.label is None):
            raise ValueError("give exactly one of 'model' (a registered name) or 'label'")
        return self

    def describe(self) -> str:
        """``sparse_attention {sparsity: 0.1}`` or ``label 'x'``, for reasons and bases."""
        name = self.model if self.model is not None else f"label {self.label!r}"
        shown = ", ".join(f"{k}: {v}" for k, v in self.params.items())
        return f"{name} {{{shown}}}" if shown else str(name)


class DatasetSelector(_Strict):
    """Which datasets: every given field must match (an empty selector matches any dataset)."""

    label: str | None = Field(None, description="dataset label in the study")
    task: list[Task] | None = Field(None, description="a task or a list of tasks")
    adapter: str | None = Field(None, description="registered adapter name")
    meta: dict[str, Any] = Field(
        default_factory=dict, description="required values of the dataset's meta"
    )

    @field_validator("task", mode="before")
    @classmethod
    def _one_task(cls, value: Any) -> Any:
        # `task: regression` is shorthand for `task: [regression]`
        return [value] if isinstance(value, str) else value

    @property
    def tasks(self) -> tuple[str, ...] | None:
        return None if self.task is None else tuple(self.task)

    def describe(self) -> str:
        """``task=binary/multiclass, name=demo_human_or_worm``, for reasons and bases."""
        parts = [f"label={self.label}"] if self.label is not None else []
        if self.tasks is not None:
            parts.append(f"task={'/'.join(self.tasks)}")
        if self.adapter is not None:
            parts.append(f"adapter={self.adapter}")
        parts += [f"{k}={v}" for k, v in self.meta.items()]
        return ", ".join(parts) or "any dataset"


def _as_list(value: Any) -> Any:
    # a single selector is shorthand for a list of one alternative
    return [value] if isinstance(value, dict) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_key(key: str) -> bool:
    return bool(key) and all(c.isalnum() or c in "_." for c in key)


class ClaimSpec(_Strict):
    """One numeric claim: its text and source, the measurement, the claimed value and the rule."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    claim: str = Field(min_length=1, description="the claim, in words")
    source: Source
    kind: str = Field(description=f"the measurement: {', '.join(KINDS)}")
    direction: Direction = Field(description="how the measured value is judged against `value`")
    value: float | tuple[float, float] | Literal["baseline"] = Field(
        description="claimed number, [low, high] for in_range, or 'baseline' (the weak baseline "
        "measured beside the value, e.g. chance)"
    )
    margin: float = Field(
        ge=0,
        description="required: the boundary's offset from `value` (bounds: half a unit of the "
        "last printed digit; approx: the declared equivalence margin)",
    )
    claimed: str | None = Field(None, description="the claim as printed; default derived")
    note: str = Field("", description="appended to the row's basis")
    runs: list[RunSelector] = Field(min_length=1, description="the measured (candidate) runs")
    dataset: list[DatasetSelector] = Field(
        default_factory=lambda: [DatasetSelector()],
        min_length=1,
        description="the dataset, or alternatives in order of preference; default any",
    )
    reference: list[RunSelector] | None = Field(None, description="the runs compared against")
    metric: str | dict[Task, str] | None = Field(
        None, description="MLflow metric key (e.g. test_pearson, n_params), or one per task"
    )
    baseline: str | float | None = Field(
        None,
        description="weak baseline beside the value: a metric key (mean over the runs) or a number",
    )
    param: str | None = Field(None, description="best_param: the param compared across runs")
    scale: float = Field(1.0, description="multiplies the measured value, e.g. 100 for pp")
    unit: str = Field("", description="unit after scaling, for the basis, e.g. pp")
    masked: int | None = Field(None, ge=0, description="ablation_drop: masked positions")
    masked_fraction: float | None = Field(None, ge=0, le=1, description="ablation_masked")
    reference_must_beat_constant: str | None = Field(
        None,
        description="retention: not testable unless the reference's CI on this metric key "
        "lies above the constant predictor's mean",
    )

    @field_validator("runs", "dataset", "reference", mode="before")
    @classmethod
    def _alternatives(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("value", mode="before")
    @classmethod
    def _value_shape(cls, value: Any) -> Any:
        # checked here so a bad value is one clear message, not one per member of the union
        if value == "baseline" or _is_number(value):
            return value
        if isinstance(value, list | tuple) and len(value) == 2 and all(map(_is_number, value)):
            return value
        raise ValueError("give a number, [low, high] or 'baseline'")

    @field_validator("metric", mode="before")
    @classmethod
    def _metric_tasks(cls, value: Any) -> Any:
        if isinstance(value, dict):
            tasks = get_args(Task)
            for task in value:
                if task not in tasks:
                    raise ValueError(f"{task!r} is not a task (valid: {', '.join(tasks)})")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} (valid: {', '.join(KINDS)})")
        return kind

    @field_validator("metric", "baseline", "reference_must_beat_constant")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        keys = value.values() if isinstance(value, dict) else [value]
        for key in keys:
            if isinstance(key, str) and not _is_key(key):
                raise ValueError(f"{key!r} is not a metric key (letters, digits, '_', '.')")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> ClaimSpec:
        fields = KINDS[self.kind]
        given = {k for k in self.model_fields_set if k not in COMMON}
        missing = sorted(fields.required - given)
        if missing:
            raise ValueError(f"kind {self.kind!r} needs {', '.join(missing)}")
        unused = sorted(given - fields.required - fields.optional)
        if unused:
            raise ValueError(f"kind {self.kind!r} does not read {', '.join(unused)}")
        if (self.direction == "in_range") != isinstance(self.value, tuple):
            raise ValueError("value: give [low, high] exactly when direction is in_range")
        if isinstance(self.value, tuple) and self.value[0] > self.value[1]:
            raise ValueError("value: [low, high] with low > high")
        return self

    @property
    def printed(self) -> str:
        """The claim as printed in the table: ``claimed`` or one derived from the rule."""
        if self.claimed is not None:
            return self.claimed
        if isinstance(self.value, tuple):
            return f"{self.value[0]:g}-{self.value[1]:g}"
        op = {"at_least": ">=", "at_most": "<=", "above": ">", "approx": "~", "gain": "+"}
        target = self.value if isinstance(self.value, str) else f"{self.value:g}"
        return f"{op[self.direction]} {target}"


class ClaimSet(_Strict):
    """A claims file: the claims a study measures, each with a distinct id."""

    description: str = ""
    claims: list[ClaimSpec] = Field(min_length=1)

    @field_validator("claims")
    @classmethod
    def _unique_ids(cls, claims: list[ClaimSpec]) -> list[ClaimSpec]:
        ids = [c.id for c in claims]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"id {dupes[0]!r} appears twice")
        return claims
