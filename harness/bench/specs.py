"""Models on the ``harness bench`` command line: ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]``
(e.g. ``sparse_transformer:keep_tokens=1024``), so one model can be timed at several settings.
Values are read as YAML scalars (``1024`` an int, ``0.05`` a float, ``false`` a bool)."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from harness.core.errors import UserError
from harness.core.registry import get_model

FORM = "NAME or NAME:KEY=VALUE,KEY=VALUE"


def parse_model_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` of a model spec; see the module docstring.

    Raises
    ------
    UserError
        An item that is not ``KEY=VALUE``, a key given twice, or a value that is not a scalar.
    """
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in rest.split(",") if rest else []:
        key, eq, raw = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise UserError(f"models: {text!r}: {item!r} is not KEY=VALUE (form: {FORM})")
        if key in params:
            raise UserError(f"models: {text!r}: {key!r} is given twice")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = None
        if isinstance(value, dict | list) or (value is None and raw not in ("null", "~")):
            raise UserError(f"models: {text!r}: {key}={raw!r} is not a number, word or bool")
        params[key] = value
    return name.strip(), params


def check_model_spec(text: str) -> tuple[str, dict[str, Any]]:
    """:func:`parse_model_spec`, then the name registered and the params valid for its model.

    Raises
    ------
    UserError
        One line: the spec, the key, and what is wrong (with the model's parameters when a key
        is unknown).
    """
    name, params = parse_model_spec(text)
    entry = get_model(name)  # unknown names: UserError listing the valid ones
    fields = entry.params.model_fields
    for key in params:
        if key not in fields:
            raise UserError(
                f"models: {text!r}: {name} has no parameter {key!r} (valid: {', '.join(fields)})"
            )
    try:
        entry.params.model_validate(params)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or name
        raise UserError(f"models: {text!r}: {where}: {first['msg']}") from None
    return name, params
