"""CSV / TSV tables (gzip transparent, read with pandas) as a labelled dataset.

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
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from adapters.sequences import (
    CommonParams,
    build_dataset,
    class_labels,
    encode_batch,
    require_file,
    resolve_path,
    task_for,
)
from adapters.splits import carve
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
        None, description="field separator; default tab for .tsv/.tab, comma otherwise"
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
    test_fraction: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="split the single table `path` at random (stratified by class): this "
        "fraction of rows is test, then val_fraction of the rest is validation",
    )
    split_seed: int = Field(
        0,
        description="seed of the test rows drawn by test_fraction; fixed across run seeds so "
        "every seed is scored on the same test rows",
    )

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


def read_table(path: Path, header: bool, sep: str | None) -> pd.DataFrame:
    """One table as strings (no NA guessing: an empty cell stays ''), columns as str."""
    require_file(path, "table")
    try:
        df = pd.read_csv(
            path,
            sep=sep or default_sep(path),
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            compression="infer",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        first = (str(err).splitlines() or [""])[0]
        raise UserError(f"{path}: cannot read table ({type(err).__name__}: {first})") from None
    df.columns = [str(c) for c in df.columns]
    if df.empty:
        raise UserError(f"{path}: the table has no rows")
    return df


def column(df: pd.DataFrame, name: str | int, path: Path, what: str) -> pd.Series:
    """Column ``name`` (or 0-based position), else a UserError listing the valid columns."""
    if isinstance(name, int) and not isinstance(name, bool):
        if 0 <= name < df.shape[1]:
            return df.iloc[:, name]
    elif name in df.columns:
        return df[name]
    valid = ", ".join(repr(c) for c in df.columns)
    raise UserError(f"{path}: no {what} column {name!r} (columns: {valid})")


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


def split_of_rows(values: pd.Series, extra: dict[str, str] | None, path: Path) -> np.ndarray:
    """split_column values -> train/val/test per row; unknown values are a UserError."""
    mapping = {**SPLIT_ALIASES, **{k.lower(): v for k, v in (extra or {}).items()}}
    lowered = values.str.strip().str.lower()
    unknown = sorted(set(lowered) - set(mapping))
    if unknown:
        raise UserError(
            f"{path}: unknown split value(s) {unknown[:5]} in the split column "
            "(use train/val/test, or map them with split_values)"
        )
    return lowered.map(mapping).to_numpy(dtype=str)


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


@register_adapter("table", TableParams)
def load(params: TableParams, seed: int) -> SequenceDataset:
    """CSV/TSV with sequence and label columns; splits from a column, files, folds or fractions."""
    seqs: list[str] = []
    raw_labels: list[str] = []
    ids: list[str] = []
    splits: list[np.ndarray] = []
    where_of: list[tuple[Path, int]] = []  # (file, first data line) per file, in row order
    starts: list[int] = []
    pairs = table_files(params)
    for path, _ in pairs:  # all missing-file errors before any slow read
        require_file(path, "table")
    first_line = 2 if params.header else 1
    for path, split in pairs:
        df = read_table(path, params.header, params.sep)
        seq_col = column(df, params.sequence_column, path, "sequence")
        label_col = column(df, params.label_column, path, "label")
        starts.append(len(seqs))
        where_of.append((path, first_line))
        seqs += [s.strip() for s in seq_col.tolist()]
        raw_labels += label_col.tolist()
        if params.index_column is not None:
            index = column(df, params.index_column, path, "index").tolist()
        else:
            index = [str(k + first_line) for k in range(len(df))]
        ids += [f"{path.name}:{i}" for i in index]
        if params.split_column is not None:
            values = column(df, params.split_column, path, "split")
            splits.append(split_of_rows(values, params.split_values, path))
        else:  # test_fraction: every row is train until split_by_fraction draws test
            splits.append(np.full(len(df), split or "train"))
    starts_arr = np.array(starts)

    def where(i: int) -> str:
        f = int(np.searchsorted(starts_arr, i, side="right")) - 1
        path, line = where_of[f]
        return f"{path} line {line + i - starts[f]}"

    enc = encode_batch(seqs, where)
    if params.task == "regression":
        labels = np.empty(len(raw_labels), dtype=np.float32)
        for i, v in enumerate(raw_labels):
            try:
                labels[i] = float(v)
            except ValueError:
                raise UserError(f"{where(i)}: label {v!r} is not a number") from None
        class_names: list[str] = []
        task = "regression"
    else:
        labels, class_names = class_labels(raw_labels, params.classes, where)
        task = task_for(len(class_names), ", ".join(sorted({str(p) for p, _ in pairs})))
    split_names = np.concatenate(splits)
    split = {s: np.flatnonzero(split_names == s) for s in SPLITS}
    if params.test_fraction is not None:
        split = split_by_fraction(labels, task, params.test_fraction, params.split_seed)
    tss = None
    if params.tss_index is not None:
        tss = np.full(len(seqs), params.tss_index, dtype=np.int64)
    meta = {
        "source": "table",
        "files": {s: [str(p) for p, sp in pairs if sp in (s, None)] for s in SPLITS},
        "class_names": class_names,
        "split_source": split_source(params),
        "test_fraction": params.test_fraction,
        "split_seed": params.split_seed if params.test_fraction is not None else None,
        "val_carved_from_train": not len(split["val"]),
        "tss_index": params.tss_index,
    }
    return build_dataset(
        enc=enc,
        labels=labels,
        ids=ids,
        split=split,
        task=task,
        params=params,
        seed=seed,
        meta=meta,
        where=where,
        tss_index=tss,
    )
