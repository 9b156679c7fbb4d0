"""The report's building blocks (sections of text, table and figure blocks) and cell formatting."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


# ---------------------------------------------------------------------------- formatting
def fmt(x: Any) -> str:
    """A table cell: 4 significant digits, small numbers in scientific notation, NaN / NA as —."""
    if x is None or x is pd.NA:
        return "—"
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        if not np.isfinite(x):
            return "—" if np.isnan(x) else str(x)
        if x == round(x) and 1e4 <= abs(x) < 1e15:
            return f"{x:.0f}"  # counts (parameters, MACs) read better in full
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
            return f"{x:.2e}"
        return f"{x:.4g}"
    return str(x)


def ci_cell(mean: float, lo: float, hi: float) -> str:
    """``mean [lo, hi]`` or just the mean when there is no interval."""
    if not np.isfinite(lo) or not np.isfinite(hi):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"


def ci_column(frame: pd.DataFrame, mean: str, lo: str, hi: str) -> list[str]:
    """:func:`ci_cell` of each row's ``mean``, ``lo`` and ``hi`` columns."""
    values = frame[[mean, lo, hi]].to_numpy(dtype=float)
    return [ci_cell(*v) for v in values]


def rows_of(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows of one dataset (none when the table has no ``dataset`` column, e.g. when empty)."""
    if "dataset" not in frame.columns:
        return frame.iloc[0:0]
    return frame[frame["dataset"] == dataset]


def slug(*parts: str) -> str:
    """A file-name-safe name for a figure."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts)).strip("_")


# -------------------------------------------------------------------------------- blocks
@dataclass
class Text:
    """Paragraphs separated by blank lines; ``**bold**`` and ```code``` are kept in HTML."""

    text: str

    @property
    def no_data(self) -> bool:
        return self.text.startswith("no data:")


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""
    # column whose cells also get a CSS class named after their value (e.g. claim verdicts)
    class_column: str | None = None


@dataclass
class Plot:
    name: str
    png: bytes
    caption: str = ""


Block = Text | Table | Plot


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    def no_data(self, why: str) -> None:
        self.blocks.append(Text(f"no data: {why}"))

    def figures(self) -> list[Plot]:
        return [b for b in self.blocks if isinstance(b, Plot)]
