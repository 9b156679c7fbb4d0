"""A ``tune`` section resolved against the study and the model's schema: the search space, the
objective and the names, checked before any data or storage is touched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from harness.config.study import DatasetSpec, ModelSpec, StudyConfig, TrainConfig, TuneConfig
from harness.core.errors import UserError
from harness.core.metrics import LOWER_IS_BETTER
from harness.core.registry import get_model, suggest

if TYPE_CHECKING:  # a trial only appears in annotations; `harness validate` stays Optuna-free
    import optuna

# Train settings that change how fast a trial runs but not what it learns: never searched.
UNTUNABLE_TRAIN = frozenset({"threads", "device"})


@dataclass(frozen=True)
class SearchParam:
    """One searched hyper-parameter, resolved against the model's or the trainer's schema.

    Attributes
    ----------
    name : the key in ``tune.space`` (also the Optuna parameter name)
    target : ``"model"`` (a field of the model's Params) or ``"train"`` (a TrainConfig field)
    field : the field name inside ``target``
    kind : ``"float"``, ``"int"`` or ``"categorical"``
    """

    name: str
    target: str
    field: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        """Draw this parameter for ``trial`` (a re-queued trial gets its stored value back)."""
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(
                self.name, self.low, self.high, log=self.log, step=self.step or 1
            )
        return trial.suggest_categorical(self.name, list(self.choices))

    def endpoints(self) -> list[Any]:
        """The values whose validity implies (for box constraints) that of the whole range."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class TunePlan:
    """A validated ``tune`` section with every name resolved."""

    study: StudyConfig
    tune: TuneConfig
    model: ModelSpec
    model_index: int | None  # position in study.models; None when tuned by a bare model name
    dataset: DatasetSpec
    metric: str
    direction: str
    space: tuple[SearchParam, ...]
    seed: int

    @property
    def storage(self) -> str:
        return self.tune.storage or str(Path(self.tune.out_dir) / f"{self.study.name}.journal")

    @property
    def experiment(self) -> str:
        return self.study.tracking.experiment or self.study.name

    def split_params(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``{space name: value}`` -> (model params, train overrides)."""
        model: dict[str, Any] = {}
        train: dict[str, Any] = {}
        for p in self.space:
            if p.name in values:
                (model if p.target == "model" else train)[p.field] = values[p.name]
        return model, train

    def spec_with(self, values: dict[str, Any], label: str | None = None) -> ModelSpec:
        """The tuned model's spec with ``values`` merged over its study params."""
        model, train = self.split_params(values)
        return ModelSpec(
            name=self.model.name,
            label=label if label is not None else self.model.label,
            params={**self.model.params, **model},
            train={**self.model.train, **train},
        )


def resolve_model(study: StudyConfig, wanted: str | None) -> tuple[ModelSpec, int | None]:
    """A model label of the study, else a model name used once in it, else a registered name."""
    if wanted is None:
        return study.models[0], 0
    labels = [m.key for m in study.models]
    if wanted in labels:
        return study.models[labels.index(wanted)], labels.index(wanted)
    named = [i for i, m in enumerate(study.models) if m.name == wanted]
    if len(named) > 1:
        raise UserError(
            f"tune.model: {wanted!r} is used by {len(named)} models of the study; give one of "
            f"their labels ({', '.join(labels[i] for i in named)})"
        )
    if named:
        return study.models[named[0]], named[0]
    try:
        get_model(wanted)
    except UserError:
        raise UserError(
            f"tune.model: {wanted!r} is neither a model label of the study"
            f"{suggest(wanted, labels)} (labels: {', '.join(labels)}) nor a registered model"
        ) from None
    return ModelSpec(name=wanted), None


def resolve_dataset(study: StudyConfig, wanted: str | None) -> DatasetSpec:
    keys = [d.key for d in study.datasets]
    if wanted is None:
        return study.datasets[0]
    if wanted not in keys:
        raise UserError(
            f"tune.dataset: unknown dataset label {wanted!r}{suggest(wanted, keys)} "
            f"(valid: {', '.join(keys)})"
        )
    return study.datasets[keys.index(wanted)]


def check_objective(metric: str, direction: str | None) -> tuple[str, str]:
    """A validation metric and its direction (inferred from the metric when not given)."""
    if metric.startswith("test_") or "_test_" in metric:
        hint = f"val_{metric.split('test_', 1)[1]}"
        raise UserError(
            f"tune.objective.metric: {metric!r} is a test-split metric; the search may only "
            f"select on validation (use {hint!r}; the test split is scored once, in the confirm "
            "step)"
        )
    if not metric.startswith("val_") or len(metric) == 4:
        raise UserError(
            f"tune.objective.metric: {metric!r} is not a validation metric; write val_<metric>, "
            "e.g. val_auroc, val_loss, val_pearson"
        )
    if direction is None:
        direction = "minimize" if metric[4:] in LOWER_IS_BETTER else "maximize"
    return metric, direction


SPACE_KINDS = ("float", "int", "categorical")
SPACE_KEYS = (*SPACE_KINDS, "log", "step")


def _field_kind(schema: type[BaseModel], name: str) -> type | None:
    """``int`` or ``float`` when the field is annotated exactly so (used to catch type slips)."""
    ann = schema.model_fields[name].annotation
    return ann if ann in (int, float) else None


def _number(value: Any, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{where}: bounds must be numbers (got {value!r})")
    return value


def _resolve_field(name: str, where: str, model_schema: type[BaseModel]) -> tuple[str, str]:
    """``(target, field)`` of a space key: ``model.x`` / ``train.x``, or a bare name found in
    exactly one of the model's Params and the (tunable) train settings."""
    model_fields = set(model_schema.model_fields)
    train_fields = set(TrainConfig.model_fields) - UNTUNABLE_TRAIN
    target, _, field_name = name.rpartition(".")
    if target not in ("", "model", "train"):
        raise UserError(f"{where}: prefix must be model. or train. (got {target!r})")
    if not target:
        in_model, in_train = field_name in model_fields, field_name in train_fields
        if in_model and in_train:
            raise UserError(
                f"{where}: both a model and a train parameter; write model.{field_name} or "
                f"train.{field_name}"
            )
        target = "model" if in_model else "train" if in_train else ""
    valid = sorted(model_fields) + sorted(train_fields)
    if not target or field_name not in (model_fields if target == "model" else train_fields):
        raise UserError(
            f"{where}: unknown parameter{suggest(field_name, valid)} (valid: {', '.join(valid)})"
        )
    return target, field_name


def _distribution_kind(raw: Any, where: str) -> str:
    """The one of float / int / categorical that a space entry gives; unknown keys refused."""
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping like {{float: [low, high]}} (got {raw!r})")
    unknown = sorted(set(raw) - set(SPACE_KEYS))
    if unknown:
        hint = suggest(str(unknown[0]), list(SPACE_KEYS))
        raise UserError(f"{where}.{unknown[0]}: unknown key{hint} (valid: {', '.join(SPACE_KEYS)})")
    kinds = [k for k in SPACE_KINDS if k in raw]
    if len(kinds) != 1:
        raise UserError(f"{where}: give exactly one of float, int, categorical (got {kinds})")
    return kinds[0]


def _choices(raw: dict[str, Any], log: bool, where: str) -> tuple[Any, ...]:
    """A categorical entry's values: a non-empty list of scalars, without ``log`` or ``step``."""
    choices = raw["categorical"]
    if not isinstance(choices, list) or not choices:
        raise UserError(f"{where}.categorical: empty or not a list; give at least one value")
    if any(c is not None and not isinstance(c, bool | int | float | str) for c in choices):
        raise UserError(f"{where}.categorical: choices must be numbers, strings or booleans")
    if log or raw.get("step") is not None:
        raise UserError(f"{where}: log and step apply to float and int ranges only")
    return tuple(choices)


def _bounds(
    raw: dict[str, Any], kind: str, log: bool, where: str
) -> tuple[float | int, float | int]:
    """``[low, high]`` of a float or int range: numbers (integers for int), low below high,
    and positive when the scale is logarithmic."""
    bounds = raw[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise UserError(f"{where}.{kind}: expected [low, high] (got {bounds!r})")
    low, high = (_number(b, f"{where}.{kind}") for b in bounds)
    if kind == "int" and not all(isinstance(b, int) for b in (low, high)):
        raise UserError(f"{where}.int: bounds must be integers (got {bounds!r})")
    if low >= high:
        raise UserError(f"{where}.{kind}: empty range [{low}, {high}]; low must be below high")
    if log and low <= 0:
        raise UserError(f"{where}: log scale needs low > 0 (got {low})")
    return low, high


def _step(step: Any, log: bool, where: str) -> float | int | None:
    """A range's optional ``step``: a positive number, not combined with ``log``."""
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
        raise UserError(f"{where}.step: must be a positive number (got {step!r})")
    if log:
        raise UserError(f"{where}: step and log cannot be combined")
    return step


def parse_search_param(name: str, raw: Any, model_schema: type[BaseModel]) -> SearchParam:
    """One ``space`` entry -> :class:`SearchParam`; every mistake names its key.

    Raises
    ------
    UserError
        One line starting ``tune.space.<name>``: an unknown or ambiguous parameter, a malformed
        distribution, an empty range, or a float range for an integer parameter.
    """
    where = f"tune.space.{name}"
    target, field_name = _resolve_field(name, where, model_schema)
    kind = _distribution_kind(raw, where)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"{where}.log: must be true or false (got {log!r})")
    if kind == "categorical":
        return SearchParam(name, target, field_name, kind, choices=_choices(raw, log, where))
    low, high = _bounds(raw, kind, log, where)
    step = _step(raw.get("step"), log, where)
    schema = model_schema if target == "model" else TrainConfig
    if kind == "float" and _field_kind(schema, field_name) is int:
        raise UserError(f"{where}: {field_name} is an integer parameter; use {{int: [low, high]}}")
    return SearchParam(name, target, field_name, kind, low, high, log, step)


def _check_values(plan_model: ModelSpec, study: StudyConfig, p: SearchParam, schema) -> None:
    """Reject a range whose end points the model's or trainer's schema refuses."""
    for value in p.endpoints():
        try:
            if p.target == "model":
                schema.model_validate({**plan_model.params, p.field: value})
            else:
                TrainConfig.model_validate(
                    {**study.train.model_dump(), **plan_model.train, p.field: value}
                )
        except ValidationError as err:
            errors = [e for e in err.errors() if tuple(e["loc"])[:1] == (p.field,)]
            if errors:
                raise UserError(
                    f"tune.space.{p.name}: value {value!r} is not allowed: {errors[0]['msg']}"
                ) from None


def validate_tune(study: StudyConfig) -> TunePlan:
    """Resolve and check ``study.tune`` without touching data or storage.

    Raises
    ------
    UserError
        One line naming the key: unknown model/dataset/parameter (with a suggestion), an empty
        range, a test-split or non-validation objective, inconsistent heartbeat settings.
    """
    tune = study.tune
    if tune is None:
        raise UserError("the study has no `tune:` section (see docs/tuning.md)")
    spec, index = resolve_model(study, tune.model)
    dataset = resolve_dataset(study, tune.dataset)
    metric, direction = check_objective(tune.objective.metric, tune.objective.direction)
    schema = get_model(spec.name).params
    space = tuple(parse_search_param(name, raw, schema) for name, raw in tune.space.items())
    for p in space:
        _check_values(spec, study, p, schema)
    if tune.grace_period <= tune.heartbeat_interval:
        raise UserError(
            f"tune.grace_period: {tune.grace_period} s must exceed heartbeat_interval "
            f"({tune.heartbeat_interval} s), or live trials would be declared dead"
        )
    seed = study.seeds[0] if tune.seed is None else tune.seed
    return TunePlan(study, tune, spec, index, dataset, metric, direction, space, seed)


def apply_overrides(study: StudyConfig, **overrides: Any) -> StudyConfig:
    """The study with command-line values (those not None) replacing its ``tune`` settings."""
    if study.tune is None:
        raise UserError(f"study {study.name!r} has no `tune:` section (see docs/tuning.md)")
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        tune = TuneConfig.model_validate({**study.tune.model_dump(), **given})
    except ValidationError as err:
        first = err.errors()[0]
        raise UserError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    return study.model_copy(update={"tune": tune})
