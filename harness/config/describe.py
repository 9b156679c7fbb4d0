"""A pydantic schema as rows a person reads: name, type, default, allowed values, meaning.

``harness list -v`` prints these rows per adapter and model, and ``harness docs`` writes them as
the study reference page (:mod:`harness.config.reference`). Everything is read from the schema
itself (``model_json_schema()`` for types and constraints, ``model_fields`` for defaults and
descriptions), so what a user is shown is what the validator enforces.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from harness.core.registry import Entry

# JSON Schema type -> the name a YAML author knows it by
JSON_TYPES = {
    "integer": "int",
    "number": "float",
    "string": "str",
    "boolean": "bool",
    "null": "null",
    "object": "dict",
    "array": "list",
}
# a nested block (train, evaluation, ...) has its own table: its default is its fields' defaults
BLOCK_DEFAULT = "(block defaults)"


@dataclass(frozen=True)
class FieldRow:
    """One field of a schema, every part already text."""

    name: str
    type: str
    default: str
    allowed: str
    meaning: str


def describe(model: type[BaseModel]) -> list[FieldRow]:
    """The rows of ``model``'s fields, in declaration order.

    Parameters
    ----------
    model : a pydantic model class (an adapter's or model's ``Params``, a study block)

    Returns
    -------
    list[FieldRow]
        type as YAML names it (``int | null``, ``list[str]``, ``[int, int, int]``), default as
        YAML writes it (``required`` when there is none), allowed values from the constraints
        (``0 < x < 0.5``, ``adam, adamw``; empty when any value of the type goes), meaning from
        the field's description.
    """
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    rows = []
    for name, field in model.model_fields.items():
        prop = schema["properties"][field.alias or name]
        rows.append(
            FieldRow(
                name=name,
                type=_type_of(prop, defs),
                default=_default_of(field),
                allowed=_allowed_of(prop, defs),
                meaning=field.description or "",
            )
        )
    return rows


def entry_notes(entry: Entry) -> list[str]:
    """``role: baseline`` / ``seed reproduction: <seed text>`` labels a model class declares."""
    return [
        f"{label}: {value}"
        for label, value in (
            ("role", getattr(entry.factory, "role", None)),
            ("seed reproduction", getattr(entry.factory, "reproduces", None)),
        )
        if value
    ]


def train_defaults_notes(entry: Entry) -> list[str]:
    """``train defaults: optimizer=adamw, ...`` for a model class that declares some."""
    defaults = getattr(entry.factory, "train_defaults", None) or {}
    if not defaults:
        return []
    return ["train defaults: " + ", ".join(f"{k}={v}" for k, v in sorted(defaults.items()))]


def nested_blocks(model: type[BaseModel], path: str = "") -> list[tuple[str, type[BaseModel]]]:
    """``model`` and every pydantic model inside its fields, depth first, with its YAML path.

    A list field of models is written ``key[]`` (one entry of the list), a nested one ``a.b``:
    ``[("", StudyConfig), ("datasets[]", DatasetSpec), ..., ("tune.pruner", PrunerConfig)]``.
    """
    found = [(path, model)]
    for name, field in model.model_fields.items():
        for inner, is_list in _models_in(field.annotation):
            key = f"{path}.{name}" if path else name
            found += nested_blocks(inner, key + ("[]" if is_list else ""))
    return found


def _models_in(annotation: Any, in_list: bool = False) -> list[tuple[type[BaseModel], bool]]:
    """The pydantic model classes ``annotation`` holds (through ``| None`` and ``list[...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, in_list)]
    origin = typing.get_origin(annotation)
    found = []
    for arg in typing.get_args(annotation):
        listed = in_list or origin is list
        if origin in (typing.Union, types.UnionType, list):
            found += _models_in(arg, listed)
    return found


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with a ``$ref`` replaced by the definition it points to."""
    ref = prop.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if ref else prop


def _options(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The non-null alternatives of ``prop`` (resolved) and whether null is allowed."""
    prop = _resolve(prop, defs)
    parts = prop.get("anyOf") or prop.get("oneOf") or [prop]
    parts = [_resolve(p, defs) for p in parts]
    options = [p for p in parts if p.get("type") != "null"]
    return options, len(options) < len(parts)


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    options, nullable = _options(prop, defs)
    names = [_one_type(p, defs) for p in options] + (["null"] if nullable else [])
    return " | ".join(dict.fromkeys(names)) or "any"


def _one_type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "properties" in prop:  # a nested model: named by its class, tabled on its own
        return prop.get("title", "dict")
    if "enum" in prop or "const" in prop:
        values = prop.get("enum", [prop.get("const")])
        return JSON_TYPES.get(prop.get("type", ""), _json_kind(values[0]))
    kind = prop.get("type")
    if kind == "array":
        if "prefixItems" in prop:
            return "[" + ", ".join(_type_of(p, defs) for p in prop["prefixItems"]) + "]"
        return f"list[{_type_of(prop['items'], defs)}]" if "items" in prop else "list"
    if kind == "object":
        values = prop.get("additionalProperties")
        return f"dict[str, {_type_of(values, defs)}]" if isinstance(values, dict) else "dict"
    return JSON_TYPES.get(kind, "any") if isinstance(kind, str) else "any"


def _json_kind(value: Any) -> str:
    """The type name of a JSON value (for an enum that does not state its type)."""
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return name
    return "any"


def _allowed_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    options, _ = _options(prop, defs)
    parts = [_one_allowed(p, defs) for p in options]
    return "; ".join(dict.fromkeys(p for p in parts if p))


def _one_allowed(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "properties" in prop:
        return ""
    if "enum" in prop or "const" in prop:
        return ", ".join(_plain(v) for v in prop.get("enum", [prop.get("const")]))
    parts = [_bounds(prop, "x")]
    if prop.get("type") == "string":
        parts.append(_bounds(prop, "length", "minLength", "maxLength"))
        if "pattern" in prop:
            parts.append(f"matches {prop['pattern']}")
    if prop.get("type") == "array":
        if "prefixItems" not in prop:  # a tuple's length is in its type already
            parts.append(_bounds(prop, "items", "minItems", "maxItems"))
        inner = [_allowed_of(p, defs) for p in prop.get("prefixItems", [])]
        inner += [_allowed_of(prop["items"], defs)] if "items" in prop else []
        parts += [f"each {text}" for text in dict.fromkeys(inner) if text]
    if prop.get("type") == "object" and isinstance(prop.get("additionalProperties"), dict):
        inner_text = _allowed_of(prop["additionalProperties"], defs)
        parts += [f"values {inner_text}"] if inner_text else []
        parts.append(_bounds(prop, "entries", "minProperties", "maxProperties"))
    return "; ".join(p for p in parts if p)


def _bounds(prop: dict[str, Any], what: str, low: str = "minimum", high: str = "maximum") -> str:
    """``1 ≤ x ≤ 10``, ``x > 0``, ``length ≥ 1``: the lower and upper bounds ``prop`` states."""
    lower, upper = _bound(prop, low), _bound(prop, high)
    if lower and upper and lower == upper and lower[1] == "≤":
        return f"{what} = {_plain(lower[0])}"
    if lower and upper:
        return f"{_plain(lower[0])} {lower[1]} {what} {upper[1]} {_plain(upper[0])}"
    if lower:
        return f"{what} {'>' if lower[1] == '<' else '≥'} {_plain(lower[0])}"
    if upper:
        return f"{what} {upper[1]} {_plain(upper[0])}"
    return ""


def _bound(prop: dict[str, Any], key: str) -> tuple[Any, str] | None:
    """(value, ``<`` or ``≤``) of the bound ``key`` (``minimum``, ...) or its exclusive twin."""
    exclusive = f"exclusive{key[0].upper()}{key[1:]}"
    if exclusive in prop:
        return prop[exclusive], "<"
    if key in prop:
        return prop[key], "≤"
    return None


def _default_of(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return BLOCK_DEFAULT
    return _plain(to_jsonable_python(value))


def _plain(value: Any) -> str:
    """A JSON value as a YAML author writes it: strings bare (unless empty), the rest as JSON."""
    if isinstance(value, str) and value:
        return value
    return json.dumps(value, ensure_ascii=False)
