"""Name -> implementation registries for dataset adapters and model variants.

Adapters and models register themselves with a decorator at import time; a study YAML names them.
Adding one is one new module in ``adapters/`` or ``models/`` that uses the decorator (both packages
import every module they contain, so nothing else needs editing).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.core.errors import UserError


class Params(BaseModel):
    """Base class of every adapter's and model's parameter schema: unknown keys are rejected, and
    so are NaN and infinite floats (``lr: .inf`` is a typo, not a setting)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Entry:
    """One registered adapter or model."""

    name: str
    kind: str
    factory: Callable[..., Any]
    params: type[Params]
    description: str


ADAPTERS: dict[str, Entry] = {}
MODELS: dict[str, Entry] = {}


def _first_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _register(table: dict[str, Entry], kind: str, name: str, params: type[Params]):
    def decorator(factory):
        if name in table:
            raise RuntimeError(f"{kind} {name!r} is registered twice")
        table[name] = Entry(name, kind, factory, params, _first_line(factory))
        return factory

    return decorator


def register_adapter(name: str, params: type[Params]):
    """Register ``load(params, seed) -> SequenceDataset`` under ``name``."""
    return _register(ADAPTERS, "adapter", name, params)


def register_model(name: str, params: type[Params]):
    """Register ``build(params, info) -> model`` (a function or a class) under ``name``."""
    return _register(MODELS, "model", name, params)


def load_plugins() -> None:
    """Import the adapter and model packages so that their decorators run.

    By name, through importlib: plug-ins depend on the core, never the other way round.
    """
    for package in ("adapters", "models"):
        importlib.import_module(package)


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` when a close match exists, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _get(table: dict[str, Entry], kind: str, name: str) -> Entry:
    load_plugins()
    if name not in table:
        raise UserError(
            f"unknown {kind} {name!r}{suggest(name, list(table))} "
            f"(valid: {', '.join(sorted(table))})"
        )
    return table[name]


def get_adapter(name: str) -> Entry:
    """The registered adapter ``name``, or a UserError listing the valid ones."""
    return _get(ADAPTERS, "adapter", name)


def get_model(name: str) -> Entry:
    """The registered model ``name``, or a UserError listing the valid ones."""
    return _get(MODELS, "model", name)
