"""DataFrames to CSV and back, exactly: every value reads back equal, with its type.

A plain ``read_csv`` guesses types, turns empty strings into NaN and parses floats with a fast
(not always exact) parser, so a table written by a run and read back by ``harness report`` could
render differently. Here each column's kind is recorded beside the file (in the analysis
manifest) and every cell is decoded by that kind with Python's exact ``float``.

Kinds: ``float`` (NaN is an empty cell, ``inf`` as written), ``int``, ``bool``, ``boolean``
(nullable: ``True`` / ``False`` / empty), ``str`` (empty stays empty), ``json`` (anything else,
one JSON document per cell: lists, mixed types, None).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("float", "int", "bool", "boolean", "str", "json")


def column_kind(column: pd.Series) -> str:
    """The kind a column is stored as (see the module docstring)."""
    dtype = column.dtype
    if isinstance(dtype, pd.BooleanDtype):
        return "boolean"
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return {"b": "bool", "i": "int", "u": "int", "f": "float"}[dtype.kind]
    if pd.api.types.is_string_dtype(dtype) and all(isinstance(v, str) for v in column.tolist()):
        return "str"
    return "json"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as their Python equivalents, for ``json.dumps``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA:
        return None
    raise TypeError(f"cannot store {type(value).__name__} in an analysis table")


def _encode(column: pd.Series, kind: str) -> pd.Series:
    if kind == "json":
        # keys keep their order (no sort_keys): a dict cell reads back as it was shown
        return column.map(lambda v: json.dumps(v, default=_plain))
    if kind == "float":
        # repr() is the shortest string that parses back to the same double
        return column.map(lambda v: "" if np.isnan(v) else repr(float(v)))
    if kind == "boolean":
        return column.map(lambda v: "" if v is pd.NA else str(bool(v)))
    return column.map(str)


def _decode(cells: list[str], kind: str) -> Any:
    if kind == "float":
        return np.array([float(c) if c else np.nan for c in cells], dtype=np.float64)
    if kind == "int":
        return np.array([int(c) for c in cells], dtype=np.int64)
    if kind == "bool":
        return np.array([c == "True" for c in cells], dtype=bool)
    if kind == "boolean":
        return pd.array([None if not c else c == "True" for c in cells], dtype="boolean")
    if kind == "str":
        return cells
    return pd.Series([json.loads(c) for c in cells], dtype=object)


def frame_to_csv(frame: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    """CSV text of ``frame`` (index dropped) and the spec that reads it back.

    Returns
    -------
    text : the CSV document
    spec : ``{"columns": [...], "kinds": {column: kind}}``
    """
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"duplicate column names: {columns}")
    kinds = {
        name: column_kind(frame[col]) for name, col in zip(columns, frame.columns, strict=True)
    }
    encoded = pd.DataFrame(
        {
            name: _encode(frame[col], kinds[name]).to_numpy(dtype=object)
            for name, col in zip(columns, frame.columns, strict=True)
        },
        columns=columns,
    )
    text = encoded.to_csv(index=False, lineterminator="\n") if columns else ""
    return text, {"columns": columns, "kinds": kinds}


def frame_from_csv(text: str, spec: dict[str, Any]) -> pd.DataFrame:
    """Inverse of :func:`frame_to_csv`: the same columns, kinds and values, a RangeIndex."""
    columns = list(spec["columns"])
    if not columns:
        return pd.DataFrame()
    raw = pd.read_csv(
        io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, header=0
    )
    if list(raw.columns) != columns:
        raise ValueError(f"CSV columns {list(raw.columns)} differ from the manifest's {columns}")
    return pd.DataFrame(
        {name: _decode(raw[name].tolist(), spec["kinds"][name]) for name in columns},
        columns=columns,
    )


def write_frame(frame: pd.DataFrame, path: Path) -> dict[str, Any]:
    """Write ``frame`` to ``path`` as CSV; return its spec (with the file name) for a manifest."""
    text, spec = frame_to_csv(frame)
    path.write_text(text, encoding="utf-8")
    return {"file": path.name, **spec}


def read_frame(folder: Path, spec: dict[str, Any]) -> pd.DataFrame:
    """Read the table that :func:`write_frame` wrote into ``folder``."""
    return frame_from_csv((folder / spec["file"]).read_text(encoding="utf-8"), spec)
