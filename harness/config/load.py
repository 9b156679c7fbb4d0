"""Reading a study: YAML -> :class:`StudyConfig`, every parameter block checked against the
registered adapter's or model's schema, and a ``tune`` section resolved, before any work starts."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.config.study import ModelSpec, StudyConfig, TrainConfig
from harness.config.tune import validate_tune
from harness.core.errors import UserError
from harness.core.registry import Params, get_adapter, get_model, suggest


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic class that owns the key at ``loc`` (for 'did you mean' suggestions)."""
    cls: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if (
            not (isinstance(cls, type) and issubclass(cls, BaseModel))
            or part not in cls.model_fields
        ):
            return None
        ann = cls.model_fields[part].annotation
        while typing.get_origin(ann) in (list, typing.Union, types.UnionType, dict):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            ann = args[-1]
        cls = ann
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def format_validation_error(err: ValidationError, root: type[BaseModel], prefix: tuple = ()) -> str:
    """One line per the first error: ``key.path: message``, with suggestions for unknown keys."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    path = _loc(prefix + loc)
    if first["type"] == "extra_forbidden":
        owner = _model_at(root, loc)
        valid = sorted(owner.model_fields) if owner else []
        hint = suggest(str(loc[-1]), valid)
        msg = f"{path}: unknown parameter{hint}" + (
            f" (valid: {', '.join(valid)})" if valid else ""
        )
    elif first["type"] == "missing":
        msg = f"{path}: required key is missing"
    else:
        given = first.get("input")
        shown = f" (got {given!r})" if not isinstance(given, dict | list) else ""
        msg = f"{path}: {first['msg']}{shown}"
    more = len(err.errors()) - 1
    return msg + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def validate_params(schema: type[Params], params: dict[str, Any], prefix: tuple) -> Params:
    """Validate an adapter's or model's params against its own schema, errors with full path."""
    try:
        return schema.model_validate(params)
    except ValidationError as err:
        raise UserError(format_validation_error(err, schema, prefix)) from None


def parse_study(data: Any, source: str = "study") -> StudyConfig:
    """Validate a study mapping completely: structure, registry names and every params block."""
    if not isinstance(data, dict):
        raise UserError(
            f"{source}: the study must be a mapping of keys (name, datasets, models, ...)"
        )
    try:
        study = StudyConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{source}: {format_validation_error(err, StudyConfig)}") from None
    try:
        for i, d in enumerate(study.datasets):
            entry = get_adapter(d.adapter)
            validate_params(entry.params, d.params, ("datasets", i, "params"))
        for i, m in enumerate(study.models):
            entry = get_model(m.name)
            validate_params(entry.params, m.params, ("models", i, "params"))
            merged = {**study.train.model_dump(), **m.train}
            try:
                TrainConfig.model_validate(merged)
            except ValidationError as err:
                raise UserError(
                    format_validation_error(err, TrainConfig, ("models", i, "train"))
                ) from None
        if study.tune is not None:
            validate_tune(study)
    except UserError as err:
        raise UserError(f"{source}: {err}") from None
    return study


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML file; every problem is a one-line :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such study file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{where}: malformed YAML: {problem}") from None
    return parse_study(data, str(path))


def model_train_config(study: StudyConfig, spec: ModelSpec) -> TrainConfig:
    """The study's train settings with the model's own overrides applied."""
    return TrainConfig.model_validate({**study.train.model_dump(), **spec.train})
