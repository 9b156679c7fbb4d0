"""CSV / TSV tables (gzip transparent, read with the csv module) as a labelled dataset.

Splits come from one of:

- ``split_column`` in a single file (values train / val / test; dev, valid, validation are val);
- ``files``: split -> file or list of files (val optional: carved from train; test required),
  e.g. GUE ``{train: train.csv, val: dev.csv, test: test.csv}``;
- ``folds``: split -> fold numbers, file names from ``fold_pattern``, e.g. EPD GENA-LM
  ``{train: [1, 2, 3], val: [4], test: [5]}``;
- ``test_fraction``: a single file split at random, stratified by class: ``test_fraction`` of its
  rows become test (drawn with ``split_seed``, the same for every run seed, so all seeds are
  scored on the same rows), then ``val_fraction`` of the rest becomes validation (drawn with the
  run seed, as wherever validation is carved from train).

Relative file names in ``files`` / ``fold_pattern`` are taken inside ``path`` when ``path`` is a
folder, else against the current directory.

Cells are read as text, nothing is guessed as NA, and every problem is refused with the file and
line: a column name given twice, a row with more or fewer fields than the header, bytes that are
not UTF-8 or a broken gzip stream. A label that is empty, NA or NaN is refused too (the first
lines and the count), or its row left out with ``missing_labels: drop`` (counted in
``meta["dropped_missing_labels"]``): it never becomes a class, nor a NaN regression target.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from adapters.sequences import (
    CommonParams,
    Records,
    Where,
    build_dataset,
    class_labels,
    task_for,
)
from adapters.splits import carve
from adapters.textfiles import read_lines, require_file, resolve_path
from harness.core.dataset import SPLITS, SequenceDataset
from harness.core.errors import UserError
from harness.core.registry import register_adapter

SplitName = Literal["train", "val", "test"]
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}
# Written spellings of a tab separator (YAML's '\t' needs double quotes to become a tab).
SEP_NAMES = {"tab": "\t", "\\t": "\t"}
# Label cells that mean "no label" (compared stripped, lower case): pandas' NA spellings that
# cannot be a class or a number. A value listed in `classes` is always a label.
MISSING = frozenset({"", "na", "n/a", "#n/a", "<na>", "nan", "-nan", "null"})
# Column names, rows, and the line each row starts on.
Parsed = tuple[list[str] | None, list[list[str]], list[int]]
# The csv module refuses fields over 128 KiB by default; a long-range sequence is longer.
csv.field_size_limit(2**31 - 1)


class TableParams(CommonParams):
    path: str | None = Field(
        None, description="a table with split_column, or the folder that files/folds are in"
    )
    files: dict[SplitName, str | list[str]] | None = Field(
        None, description="split -> file(s); test required, val optional (carved from train)"
    )
    folds: dict[SplitName, list[int]] | None = Field(
        None, description="split -> fold numbers, files named by fold_pattern inside path"
    )
    fold_pattern: str = Field(
        "fold_{fold}.csv.gz", description="file name of a fold; {fold} is the fold number"
    )
    split_column: str | None = Field(
        None, description="column naming each row's split (train/val/test, dev = val)"
    )
    split_values: dict[str, SplitName] | None = Field(
        None, description="extra split_column value -> split mappings, e.g. {fold5: test}"
    )
    sequence_column: str = Field("sequence", min_length=1, description="column of sequences")
    label_column: str = Field("label", min_length=1, description="column of labels")
    index_column: str | int | None = Field(
        None, description="column (name or 0-based position) whose values become the row ids"
    )
    header: bool = Field(
        True, description="first line names the columns; without, columns are '0', '1', ..."
    )
    sep: str | None = Field(
        None,
        description="field separator, one character ('tab' or '\\t' for a tab); default tab "
        "for .tsv/.tab, comma otherwise",
    )
    task: Literal["classification", "regression"] = Field(
        "classification", description="int class labels (binary/multiclass) or float targets"
    )
    classes: list[str] | None = Field(
        None, min_length=2, description="class order (default: numeric, else sorted names)"
    )
    tss_index: int | None = Field(
        None, ge=0, description="0-based TSS position of every row, stored as tss_index"
    )
    missing_labels: Literal["error", "drop"] = Field(
        "error",
        description="rows whose label is empty, NA or NaN: error (refused, with their lines) "
        "or drop (left out, counted in meta as dropped_missing_labels)",
    )
    test_fraction: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="split the single table `path` at random (stratified by class): this "
        "fraction of rows is test, then val_fraction of the rest is validation",
    )
    split_seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="seed of the test rows drawn by test_fraction; fixed across run seeds so "
        "every seed is scored on the same test rows",
    )

    @field_validator("sep")
    @classmethod
    def _one_character(cls, sep: str | None) -> str | None:
        if sep is None:
            return None
        sep = SEP_NAMES.get(sep, sep)
        if len(sep) != 1:
            raise ValueError(f"sep must be one character, e.g. ',' or 'tab' (got {sep!r})")
        return sep

    @model_validator(mode="after")
    def _one_split_source(self) -> TableParams:
        given = {
            "split_column": self.split_column is not None,
            "files": self.files is not None,
            "folds": self.folds is not None,
            "test_fraction": self.test_fraction is not None,
        }
        if sum(given.values()) != 1:
            chosen = [k for k, v in given.items() if v]
            why = f" (got {', '.join(chosen)})" if chosen else ""
            raise ValueError(f"give exactly one of split_column, files, folds, test_fraction{why}")
        if self.test_fraction is not None:
            if self.path is None:
                raise ValueError("test_fraction needs path (the table file to split)")
            if self.test_fraction + self.val_fraction >= 1:
                raise ValueError("test_fraction + val_fraction must be below 1")
        elif "split_seed" in self.model_fields_set:
            raise ValueError("split_seed is only used with test_fraction")
        if self.split_column is not None and self.path is None:
            raise ValueError("split_column needs path (the table file)")
        if self.folds is not None and self.path is None:
            raise ValueError("folds needs path (the folder of the fold files)")
        if "{fold}" not in self.fold_pattern:
            raise ValueError("fold_pattern must contain {fold}")
        chosen = self.files or self.folds
        if chosen is not None and "test" not in chosen:
            raise ValueError("a test split is required (files/folds key 'test')")
        if chosen is not None and "train" not in chosen:
            raise ValueError("a train split is required (files/folds key 'train')")
        return self


def default_sep(path: Path) -> str:
    """Tab for .tsv/.tab (also gzipped), comma otherwise."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".gzip")]
    return "\t" if suffixes and suffixes[-1] in (".tsv", ".tab") else ","


@dataclass(frozen=True)
class Table:
    """One table file read as strings (an empty cell stays ``''``; nothing is guessed as NA).

    Attributes
    ----------
    path : the file
    frame : (n, columns) str cells, columns named by the header (or '0', '1', ...)
    lines : int64 (n,), the file line each row starts on (blank lines skipped, not counted out)
    sep : the separator used
    """

    path: Path
    frame: pd.DataFrame
    lines: np.ndarray
    sep: str


def _column_names(row: list[str], header: bool, path: Path, line: int) -> list[str]:
    """The header's names (each once), or '0', '1', ... without a header."""
    if not header:
        return [str(k) for k in range(len(row))]
    seen: dict[str, int] = {}
    for k, name in enumerate(row):
        if name in seen:
            raise UserError(
                f"{path} line {line}: column name {name!r} appears twice in the header "
                f"(columns {seen[name] + 1} and {k + 1}); every column name must be unique"
            )
        seen[name] = k
    return row


def _ragged(path: Path, line: int, got: int, names: list[str], first: int, sep: str) -> UserError:
    what = "the header" if first else "the first row"
    return UserError(
        f"{path} line {line}: {got} field(s), but {what} (line {abs(first)}) has {len(names)} "
        f"(separator {sep!r}); a missing or extra separator, or an unquoted {sep!r} in a field?"
    )


def _rows(path: Path, header: bool, sep: str) -> Parsed:
    """Column names, rows and the line each row starts on; blank lines skipped."""
    names: list[str] | None = None
    first = 0  # line of the header (> 0), or minus the line of the first row without one
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(read_lines(path, "table"), delimiter=sep, strict=True)
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if names is None:
                names, first = _column_names(row, header, path, line), line if header else -line
                if header:
                    continue
            if len(row) != len(names):
                raise _ragged(path, line, len(row), names, first, sep)
            rows.append(row)
            lines.append(line)
    except csv.Error as err:
        raise UserError(
            f"{path} line {start}: cannot parse the row starting here ({err}); "
            "an unclosed or stray quote?"
        ) from None
    return names, rows, lines


def read_table(path: Path, header: bool, sep: str | None) -> Table:
    """One CSV/TSV file (gzip transparent) as strings, every row checked against the header.

    Refused with the file and line (one-line :class:`UserError`): unreadable bytes (see
    :func:`~adapters.textfiles.read_lines`), an empty file, a header without rows, a column name
    given twice, a row with more or fewer fields than the header, broken quoting.
    """
    delimiter = sep or default_sep(path)
    names, rows, lines = _rows(path, header, delimiter)
    if names is None:
        raise UserError(f"{path}: empty file (no header line and no rows)")
    if not rows:
        raise UserError(f"{path}: the table has no rows (only the header line)")
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    return Table(path, frame, np.array(lines, dtype=np.int64), delimiter)


def column(table: Table, name: str | int, what: str) -> pd.Series:
    """Column ``name`` (or 0-based position), else a UserError listing the valid columns."""
    df = table.frame
    if isinstance(name, int) and not isinstance(name, bool):
        if 0 <= name < df.shape[1]:
            return df.iloc[:, name]
    elif name in df.columns:
        return df[name]
    valid = ", ".join(repr(c) for c in df.columns)
    hint = ""
    if df.shape[1] == 1 and any(c in df.columns[0] for c in ",\t;|"):
        hint = f"; the header is one column: is the separator right? ({table.sep!r} was used)"
    raise UserError(f"{table.path}: no {what} column {name!r} (columns: {valid}){hint}")


def table_files(params: TableParams) -> list[tuple[Path, str | None]]:
    """(file, split) pairs; split None: from split_column, or drawn by test_fraction."""
    base = resolve_path(params.path) if params.path is not None else None
    folder = base if base is not None and base.is_dir() else None
    if params.path is not None and not base.exists():
        raise UserError(f"table: path not found: {base}")
    if params.split_column is not None or params.test_fraction is not None:
        if folder is not None:
            raise UserError(f"table: path must be a table file here, got the folder {base}")
        return [(base, None)]
    pairs: list[tuple[Path, str | None]] = []
    if params.folds is not None:
        if folder is None:
            raise UserError(f"table: folds need path to be a folder, got {base}")
        for split, folds in params.folds.items():
            pairs += [(folder / params.fold_pattern.format(fold=f), split) for f in folds]
        return pairs
    for split, names in params.files.items():
        for name in [names] if isinstance(names, str) else names:
            pairs.append((resolve_path(name, folder), split))
    return pairs


def split_of_rows(values: pd.Series, extra: dict[str, str] | None, table: Table) -> np.ndarray:
    """split_column values -> train/val/test per row; an unknown value is refused with its line."""
    mapping = {**SPLIT_ALIASES, **{k.lower(): v for k, v in (extra or {}).items()}}
    lowered = values.str.strip().str.lower()
    known = lowered.isin(list(mapping)).to_numpy()
    if not known.all():
        unknown = sorted(set(lowered[~known]))
        line = int(table.lines[np.flatnonzero(~known)[0]])
        raise UserError(
            f"{table.path} line {line}: unknown split value(s) {unknown[:5]} in the split column "
            f"(valid: {', '.join(sorted(mapping))}; map others with split_values)"
        )
    return lowered.map(mapping).to_numpy(dtype=str)


def missing_label_rows(values: list[str], classes: list[str] | None) -> np.ndarray:
    """Indices of label cells that mean "no label" (empty, NA, NaN, ...), int64 (k,).

    A value listed in ``classes`` is a label even when it reads as NA.
    """
    named = set(classes or ())
    stripped = (v.strip() for v in values)
    found = [i for i, v in enumerate(stripped) if v not in named and v.lower() in MISSING]
    return np.array(found, dtype=np.int64)


def describe_lines(found: list[tuple[Path, np.ndarray]], limit: int = 5) -> str:
    """``"a.csv lines 3, 9; b.csv line 2 and 7 more"``: the first ``limit`` lines, by file."""
    parts, shown = [], 0
    for path, lines in found:
        take = lines[: limit - shown]
        if len(take):
            word = "line" if len(take) == 1 else "lines"
            parts.append(f"{path} {word} {', '.join(str(int(x)) for x in take)}")
            shown += len(take)
    total = sum(len(lines) for _, lines in found)
    return "; ".join(parts) + (f" and {total - shown} more" if total > shown else "")


def plural(n: int, noun: str) -> str:
    """``"1 row"``, ``"3 rows"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def regression_labels(values: list[str], where: Where) -> np.ndarray:
    """Label strings -> float32 (n,); a non-number or non-finite value is refused with its line."""
    labels = np.empty(len(values), dtype=np.float32)
    bad: list[int] = []
    for i, v in enumerate(values):
        try:
            labels[i] = float(v)
        except ValueError:
            bad.append(i)
    if bad:
        raise UserError(
            f"{where(bad[0])}: label {values[bad[0]]!r} is not a number (task: regression "
            f"needs numbers; {plural(len(bad), 'such row')})"
        )
    infinite = np.flatnonzero(~np.isfinite(labels))
    if infinite.size:
        i = int(infinite[0])
        raise UserError(f"{where(i)}: label {values[i]!r} is not a finite number (float32)")
    return labels


def split_source(params: TableParams) -> str:
    """Which option defined the splits: split_column, files, folds or test_fraction."""
    for name in ("split_column", "folds", "test_fraction"):
        if getattr(params, name) is not None:
            return name
    return "files"


def split_by_fraction(
    labels: np.ndarray, task: str, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Train and test rows of a single table (validation is carved from train later).

    labels : (n,) -> {"train": int64 (n - m,), "test": int64 (m,)}, m ~ ``test_fraction`` * n,
    stratified by class for classification, seeded by ``seed``.
    """
    strat = labels if task != "regression" else None
    train, test = carve(np.arange(len(labels)), test_fraction, seed, strat)
    return {"train": train, "val": np.zeros(0, dtype=np.int64), "test": test}


@dataclass
class _Rows:
    """The rows of every file, in order, with the lines they came from."""

    seqs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    splits: list[np.ndarray] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)  # per file
    starts: list[int] = field(default_factory=list)  # per file: index of its first row
    lines: list[np.ndarray] = field(default_factory=list)  # per file: line of each kept row
    missing: list[tuple[Path, np.ndarray]] = field(default_factory=list)  # lines, no label

    def add(self, table: Table, params: TableParams, split: str | None) -> None:
        """Keep the rows of ``table`` that have a label; note the lines of those without."""
        column(table, params.sequence_column, "sequence")  # a missing one is named first
        labels = [str(v) for v in column(table, params.label_column, "label").tolist()]
        missing = missing_label_rows(labels, params.classes)
        keep = np.ones(len(labels), dtype=bool)
        keep[missing] = False
        self.missing.append((table.path, table.lines[missing]))
        frame, lines = table.frame[keep], table.lines[keep]
        kept = Table(table.path, frame, lines, table.sep)
        self.paths.append(table.path)
        self.starts.append(len(self.seqs))
        self.lines.append(lines)
        self.seqs += [s.strip() for s in column(kept, params.sequence_column, "sequence")]
        self.labels += [v for v, k in zip(labels, keep, strict=True) if k]
        if params.index_column is not None:
            index = column(kept, params.index_column, "index").tolist()
        else:
            index = lines.tolist()
        self.ids += [f"{table.path.name}:{i}" for i in index]
        if params.split_column is not None:
            values = column(kept, params.split_column, "split")
            self.splits.append(split_of_rows(values, params.split_values, kept))
        else:  # test_fraction: every row is train until split_by_fraction draws test
            self.splits.append(np.full(len(frame), split or "train"))

    def where(self, i: int) -> str:
        """Row ``i`` (over all files) for messages: its file and line."""
        f = int(np.searchsorted(np.array(self.starts), i, side="right")) - 1
        return f"{self.paths[f]} line {int(self.lines[f][i - self.starts[f]])}"

    def refuse_missing(self, column_name: str) -> None:
        """Refuse rows without a label, naming the first lines and the count."""
        total = sum(len(lines) for _, lines in self.missing)
        if total:
            raise UserError(
                f"{describe_lines(self.missing)}: no label in column {column_name!r} (empty, NA "
                f"or NaN; {plural(total, 'row')} in all); fill them in, or set missing_labels: "
                "drop to leave such rows out"
            )


def read_rows(params: TableParams, pairs: list[tuple[Path, str | None]]) -> _Rows:
    """Every file's rows; rows without a label dropped (``drop``) or refused (``error``)."""
    rows = _Rows()
    for path, split in pairs:
        rows.add(read_table(path, params.header, params.sep), params, split)
    if params.missing_labels == "error":
        rows.refuse_missing(str(params.label_column))
    return rows


@register_adapter("table", TableParams)
def load(params: TableParams, seed: int) -> SequenceDataset:
    """CSV/TSV with sequence and label columns; splits from a column, files, folds or fractions."""
    pairs = table_files(params)
    for path, _ in pairs:  # all missing-file errors before any slow read
        require_file(path, "table")
    rows = read_rows(params, pairs)
    enc = Records(rows.seqs, rows.where)  # encoded in build_dataset: only the rows kept
    if params.task == "regression":
        labels = regression_labels(rows.labels, rows.where)
        class_names: list[str] = []
        task = "regression"
    else:
        labels, class_names = class_labels(rows.labels, params.classes, rows.where)
        task = task_for(len(class_names), ", ".join(sorted({str(p) for p, _ in pairs})))
    split_names = np.concatenate(rows.splits)
    split = {s: np.flatnonzero(split_names == s) for s in SPLITS}
    if params.test_fraction is not None:
        split = split_by_fraction(labels, task, params.test_fraction, params.split_seed)
    tss = None
    if params.tss_index is not None:
        tss = np.full(len(rows.seqs), params.tss_index, dtype=np.int64)
    meta = {
        "source": "table",
        "files": {s: [str(p) for p, sp in pairs if sp in (s, None)] for s in SPLITS},
        "class_names": class_names,
        "split_source": split_source(params),
        "test_fraction": params.test_fraction,
        "split_seed": params.split_seed if params.test_fraction is not None else None,
        "val_carved_from_train": not len(split["val"]),
        "tss_index": params.tss_index,
        "missing_labels": params.missing_labels,
        "dropped_missing_labels": sum(len(lines) for _, lines in rows.missing),
    }
    return build_dataset(
        enc=enc,
        labels=labels,
        ids=rows.ids,
        split=split,
        task=task,
        params=params,
        seed=seed,
        meta=meta,
        where=rows.where,
        tss_index=tss,
    )
