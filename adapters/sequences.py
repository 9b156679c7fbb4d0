"""Shared sequence handling of the real-data adapters (fasta, table, genomic_benchmarks).

One pipeline turns raw strings into a :class:`SequenceDataset`:

1. :func:`encode_batch` encodes records (IUPAC codes -> N, counted; any other character or an
   empty record is a :class:`UserError` naming the file and record);
2. :func:`apply_length_policy` makes the (n, L) matrix (``error`` / ``pad`` / ``center_crop``);
3. :func:`build_dataset` completes the splits (validation carved from train), subsamples train
   and validation (``max_train`` / ``max_val``) *before* encoding: only the rows kept are
   encoded, made (n, L) and checked for leakage across splits (with ``drop_leakage``, which
   must see every row, all rows are encoded, leaked ones dropped from the earlier split, then
   subsampled); it adds reverse-complement training copies and fills ``meta``. Adapters pass
   :class:`Records` (raw strings) so the encoding itself is deferred too; the rows kept and
   their order are the same either way.

Every adapter's params inherit :class:`CommonParams`, so these options read the same everywhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.model_selection import train_test_split

from adapters.encoding import reverse_complement
from adapters.leakage import drop_leaked, find_leakage, leakage_counts
from adapters.records import Encoded, Records, Where
from adapters.records import concat_encoded as concat_encoded  # re-exported for the adapters
from adapters.records import encode_batch as encode_batch  # re-exported for the adapters
from adapters.splits import carve
from harness.core.dataset import PAD_TOKEN, SPLITS, SequenceDataset, Task
from harness.core.errors import UserError
from harness.core.registry import Params

# A pad/crop target above this is a typo (10 Mbp windows), refused at validation.
MAX_LENGTH = 10_000_000
LengthPolicy = Literal["error", "pad", "center_crop"]


class CommonParams(Params):
    """Options shared by every real-data adapter."""

    length_policy: LengthPolicy = Field(
        "error",
        description=(
            "what to do with sequences of different lengths: error (name the first offender), "
            "pad (right-pad with the PAD token up to `length` or the longest; longer ones are "
            "center-cropped), center_crop (crop to `length` or the shortest)"
        ),
    )
    length: int | None = Field(
        None,
        ge=1,
        le=MAX_LENGTH,
        description="target length for pad/center_crop; with error, the required one",
    )
    reverse_complement: bool = Field(
        False, description="append the reverse complement of every TRAIN sequence (ids + '_rc')"
    )
    max_train: int | None = Field(
        None,
        ge=2,
        description="keep at most this many training sequences (stratified, seeded by the run "
        "seed, after leakage handling); the test split is never subsampled",
    )
    max_val: int | None = Field(
        None,
        ge=2,
        description="keep at most this many validation sequences (stratified, seeded): validation "
        "runs every epoch, so a smaller one buys time; the test split is never subsampled",
    )
    val_fraction: float = Field(
        0.1, gt=0, lt=0.5, description="fraction of train carved out as validation when needed"
    )
    drop_leakage: bool = Field(
        False,
        description="drop sequences that recur (exactly or as reverse complement) in a later "
        "split from the earlier one: from train (vs val/test) and from val (vs test)",
    )


# ---------------------------------------------------------------------------------------------
# Encoding and lengths


def _lengths_seen(lengths: np.ndarray, limit: int = 5) -> str:
    values, counts = np.unique(lengths, return_counts=True)
    order = np.argsort(-counts)[:limit]
    shown = ", ".join(f"{int(values[i])} bp x{int(counts[i])}" for i in order)
    return shown + (", ..." if len(values) > limit else "")


def apply_length_policy(
    enc: Encoded, policy: LengthPolicy, length: int | None, where: Where
) -> tuple[np.ndarray, np.ndarray]:
    """Make the (n, L) token matrix.

    ``pad`` pads on the right with PAD (token 5), not N: N means "a base we could not read" and
    is a real input symbol for k-mer and CNN models, PAD means "no sequence here" and lets
    attention models mask it (``one_hot`` maps both to zeros). Right padding keeps positions
    counted from the 5' end, so a TSS index stays valid.

    Returns
    -------
    tokens : np.ndarray, uint8, shape (n, L)
    offset : np.ndarray, int64, shape (n,)
        Bases removed from the left of each record by cropping (subtract from position
        annotations such as ``tss_index``).
    """
    target = length_target(enc.lengths, policy, length, where)
    return to_matrix(enc, target), crop_offsets(enc.lengths, target)


def length_target(
    lengths: np.ndarray, policy: LengthPolicy, length: int | None, where: Where
) -> int:
    """The common length L of the policy over every record's length (no sequence read);
    records the policy refuses are a :class:`UserError` naming the first of them."""
    n = len(lengths)
    if n == 0:
        raise UserError(f"{where(0)}: no sequences")
    if policy == "error":
        target = length or int(lengths[0])
        bad = np.flatnonzero(lengths != target)
        if bad.size:
            i = int(bad[0])
            raise UserError(
                f"{where(i)}: length {int(lengths[i])} differs from {target} "
                f"(lengths seen: {_lengths_seen(lengths)}); "
                "set length_policy: pad or center_crop to accept variable lengths"
            )
    elif policy == "pad":
        target = length or int(lengths.max())
    else:
        target = length or int(lengths.min())
        short = np.flatnonzero(lengths < target)
        if short.size:
            i = int(short[0])
            raise UserError(
                f"{where(i)}: length {int(lengths[i])} is shorter than center_crop length "
                f"{target}; lower `length` or use length_policy: pad"
            )
    return target


def crop_offsets(lengths: np.ndarray, target: int) -> np.ndarray:
    """Bases center-cropping removes from the left of each record: int64 (n,)."""
    return (np.maximum(lengths - target, 0) // 2).astype(np.int64)


def to_matrix(enc: Encoded, target: int) -> np.ndarray:
    """The records as an (n, target) uint8 matrix: longer ones center-cropped, shorter ones
    right-padded with PAD."""
    lengths = enc.lengths
    n = len(lengths)
    if (lengths == target).all():
        return np.asarray(enc.flat).reshape(n, target)
    offset = crop_offsets(lengths, target)
    tokens = np.full((n, target), PAD_TOKEN, dtype=np.uint8)
    for i, (start, size, off) in enumerate(zip(enc.starts, lengths, offset, strict=True)):
        keep = min(int(size), target)
        tokens[i, :keep] = enc.flat[start + off : start + off + keep]
    return tokens


def shift_positions(positions: np.ndarray, offset: np.ndarray, length: int) -> np.ndarray:
    """Move per-sequence positions (-1 = unknown) by a crop offset; -1 when cropped out.

    positions, offset : int (n,) -> int64 (n,)
    """
    moved = positions.astype(np.int64) - offset
    return np.where((positions >= 0) & (moved >= 0) & (moved < length), moved, -1)


def unique_ids(ids: Sequence[str]) -> np.ndarray:
    """Ids made unique by suffixing repeats with ``#2``, ``#3``, ... (order kept). (n,) str."""
    if len(set(ids)) == len(ids):
        return np.asarray(ids, dtype=str)
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        k = seen.get(i, 0) + 1
        seen[i] = k
        out.append(i if k == 1 else f"{i}#{k}")
    return np.array(out, dtype=str)


# ---------------------------------------------------------------------------------------------
# Labels


def class_labels(
    values: Sequence[str], classes: list[str] | None, where: Where
) -> tuple[np.ndarray, list[str]]:
    """Map label strings to ints.

    Order: ``classes`` when given; else numeric order when every value is an integer (so 0/1
    stay 0/1), else sorted names.

    Returns
    -------
    labels : np.ndarray, int64, shape (n,)
    class_names : list of str
    """
    values = [str(v).strip() for v in values]
    if classes is None:
        distinct = set(values)
        try:
            names = [str(v) for v in sorted(distinct, key=int)]
        except ValueError:
            names = sorted(distinct)
    else:
        names = list(classes)
    index = {name: k for k, name in enumerate(names)}
    missing = [i for i, v in enumerate(values) if v not in index]
    if missing:
        i = missing[0]
        raise UserError(f"{where(i)}: label {values[i]!r} is not one of the classes {names}")
    return np.array([index[v] for v in values], dtype=np.int64), names


def task_for(n_classes: int, where: str) -> Task:
    """binary for 2 classes, multiclass for more; fewer is a user error."""
    if n_classes < 2:
        raise UserError(f"{where}: found {n_classes} class(es); classification needs at least 2")
    return "binary" if n_classes == 2 else "multiclass"


# ---------------------------------------------------------------------------------------------
# Splits, subsampling and augmentation


def complete_split(
    split: dict[str, np.ndarray],
    labels: np.ndarray,
    task: Task,
    val_fraction: float,
    seed: int,
    where: str,
) -> dict[str, np.ndarray]:
    """Official train/test kept; validation carved from train (stratified, seeded) if absent."""
    out = {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in split.items() if len(v)}
    for name in ("train", "test"):
        if name not in out:
            raise UserError(f"{where}: the {name} split is empty")
    if "val" not in out:
        train = out["train"]
        strat = labels[train] if task != "regression" else None
        out["train"], out["val"] = carve(train, val_fraction, seed, strat)
    return out


def subsample(
    indices: np.ndarray, labels: np.ndarray, size: int, seed: int, stratify: bool
) -> np.ndarray:
    """At most ``size`` of ``indices`` (sorted), stratified by ``labels[indices]`` if asked."""
    if size >= len(indices):
        return indices
    strat = labels[indices] if stratify else None
    try:
        kept, _ = train_test_split(indices, train_size=size, random_state=seed, stratify=strat)
    except ValueError:
        # A class too small to stratify: plain random draw.
        kept, _ = train_test_split(indices, train_size=size, random_state=seed)
    return np.sort(kept)


def flip_positions(positions: np.ndarray, length: int) -> np.ndarray:
    """Positions on the reverse strand of a length-L window: p -> L-1-p, -1 stays -1."""
    return np.where(positions >= 0, length - 1 - positions, -1)


def add_reverse_complements(
    tokens: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray,
    annotations: dict[str, np.ndarray],
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Append reverse complements of ``rows`` (the train split).

    Positional annotations follow the strand: ``tss_index`` -> L-1-tss, (n, L) masks reversed.

    Returns
    -------
    tokens (n+m, L), labels (n+m,), ids (n+m,) with ``_rc`` suffixes, annotations,
    new_rows : int64 (m,), indices of the appended rows
    """
    n, length = tokens.shape
    extra_ann = {}
    for key, arr in annotations.items():
        part = arr[rows]
        if key == "tss_index":
            part = flip_positions(part, length)
        elif part.ndim >= 2 and part.shape[1] == length:
            part = part[:, ::-1]
        extra_ann[key] = np.concatenate([arr, part])
    rc_ids = np.char.add(ids[rows].astype(str), "_rc")
    return (
        np.concatenate([tokens, reverse_complement(tokens[rows])]),
        np.concatenate([labels, labels[rows]]),
        np.concatenate([ids.astype(str), rc_ids]),
        extra_ann,
        np.arange(n, n + len(rows), dtype=np.int64),
    )


def compact(
    tokens: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray,
    annotations: dict[str, np.ndarray],
    split: dict[str, np.ndarray],
) -> tuple:
    """Drop rows that no split uses (after subsampling / leakage drops) and re-index splits."""
    keep = np.sort(np.concatenate([split[k] for k in SPLITS]))
    if len(keep) == len(tokens):
        return tokens, labels, ids, annotations, split
    return (tokens[keep], *_restrict(keep, labels, ids, annotations, split))


# ---------------------------------------------------------------------------------------------
# The pipeline


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays inside nested dicts/lists -> plain Python (meta must be JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _positions(
    tss_index: np.ndarray | None, lengths: np.ndarray, length: int
) -> dict[str, np.ndarray]:
    """``tss_index`` moved by each record's crop offset, as the annotation (empty if unknown)."""
    if tss_index is None or not (np.asarray(tss_index) >= 0).any():
        return {}
    offset = crop_offsets(lengths, length)
    return {"tss_index": shift_positions(np.asarray(tss_index), offset, length)}


def _subsample(
    full: dict[str, np.ndarray], labels: np.ndarray, params: CommonParams, seed: int, task: Task
) -> dict[str, np.ndarray]:
    """``max_train`` / ``max_val`` applied (stratified for classification, seeded)."""
    full = dict(full)
    if params.max_train is not None:
        full["train"] = subsample(
            full["train"], labels, params.max_train, seed, stratify=task != "regression"
        )
    if params.max_val is not None:
        full["val"] = subsample(
            full["val"], labels, params.max_val, seed + 1, stratify=task != "regression"
        )
    return full


def _restrict(
    keep: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray,
    annotations: dict[str, np.ndarray],
    split: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The rows ``keep`` (sorted) of everything but the tokens, splits re-indexed into them."""
    return (
        np.asarray(labels)[keep],
        ids[keep],
        {k: v[keep] for k, v in annotations.items()},
        {k: np.searchsorted(keep, v) for k, v in split.items()},
    )


def _leakage(
    tokens: np.ndarray, split: dict[str, np.ndarray], params: CommonParams, source: str
) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Sequences shared across the splits (counted, warned about): counts and the rows."""
    found = find_leakage(tokens, split)
    counts = leakage_counts(found)
    if any(counts.values()):
        shown = ", ".join(f"{k}={v}" for k, v in counts.items() if v)
        action = "dropped from the earlier split" if params.drop_leakage else "kept"
        warnings.warn(
            f"{source}: sequences shared across splits ({shown}); {action} "
            "(drop_leakage: true removes exact and reverse-complement copies from train/val, "
            "test stays official; near-duplicates, k-mer Jaccard >= 0.7, are only reported)",
            stacklevel=3,
        )
    return counts, found


def build_dataset(
    *,
    enc: Encoded | Records,
    labels: np.ndarray,
    ids: Sequence[str],
    split: dict[str, np.ndarray],
    task: Task,
    params: CommonParams,
    seed: int,
    meta: dict[str, Any],
    where: Where,
    tss_index: np.ndarray | None = None,
) -> SequenceDataset:
    """Encoded records + labels + (partial) splits -> a finished :class:`SequenceDataset`.

    Parameters
    ----------
    enc : the n records, encoded, or raw (:class:`Records`): then only the rows kept are
        encoded, so ``max_train`` / ``max_val`` cut the encoding and leakage work to the rows used
    labels : (n,) int64 class indices, or float32 for regression
    ids : n record ids (made unique here)
    split : train and test index arrays (val optional: carved from train, seeded by ``seed``)
    meta : adapter facts (source, class_names, files, ...); counts, lengths, leakage are added
    where : i -> location of record i, for length-policy errors
    tss_index : (n,) int, -1 where unknown, or None
    """
    source = str(meta.get("source", "dataset"))
    lengths = enc.lengths
    ids_arr = unique_ids(ids if isinstance(ids, np.ndarray) else [str(i) for i in ids])
    full = complete_split(split, labels, task, params.val_fraction, seed, source)
    if params.drop_leakage:
        # what leaks is only known from every row's tokens: encode all, drop, then subsample
        encoded = enc.select(np.arange(len(lengths)))
        length = length_target(lengths, params.length_policy, params.length, where)
        annotations = _positions(tss_index, lengths, length)
        tokens = to_matrix(encoded, length)
        counts, found = _leakage(tokens, full, params, source)
        full = drop_leaked(full, found)
        n_train_before = len(full["train"])
        full = _subsample(full, labels, params, seed, task)
        tokens, labels, ids_arr, annotations, full = compact(
            tokens, labels, ids_arr, annotations, full
        )
    else:
        # the rows kept are chosen from the splits and labels alone: only they are encoded
        # (characters first, then lengths: the order of the errors when every row is kept)
        n_train_before = len(full["train"])
        full = _subsample(full, labels, params, seed, task)
        keep = np.sort(np.concatenate([full[k] for k in SPLITS]))
        encoded = enc.select(keep)
        length = length_target(lengths, params.length_policy, params.length, where)
        annotations = _positions(tss_index, lengths, length)
        labels, ids_arr, annotations, full = _restrict(keep, labels, ids_arr, annotations, full)
        tokens = to_matrix(encoded, length)
        counts, _ = _leakage(tokens, full, params, source)
    if encoded.n_ambiguous:
        warnings.warn(
            f"{source}: {encoded.n_ambiguous} IUPAC ambiguity code(s) turned into N", stacklevel=2
        )
    n_rc = 0
    if params.reverse_complement:
        tokens, labels, ids_arr, annotations, new_rows = add_reverse_complements(
            tokens, labels, ids_arr, annotations, full["train"]
        )
        full["train"] = np.concatenate([full["train"], new_rows])
        n_rc = len(new_rows)

    n_classes = len(meta.get("class_names") or []) if task != "regression" else 1
    counts_per_split = {k: len(full[k]) for k in SPLITS}
    meta = {
        **meta,
        "n_classes": n_classes,
        "length": length,
        "length_policy": params.length_policy,
        "lengths_seen": _lengths_seen(lengths),
        "n_records": len(lengths),
        "n_ambiguous_to_N": encoded.n_ambiguous,
        "counts": counts_per_split,
        "leakage": counts,
        "leakage_dropped": bool(params.drop_leakage),
        "max_train": params.max_train,
        "n_train_before_max_train": n_train_before,
        "max_val": params.max_val,
        "reverse_complement_added": n_rc,
    }
    if task != "regression":
        meta["class_counts"] = {
            k: np.bincount(labels[full[k]], minlength=n_classes).tolist() for k in SPLITS
        }
    return SequenceDataset(
        tokens=np.ascontiguousarray(tokens, dtype=np.uint8),
        labels=labels,
        task=task,
        split=full,
        annotations=annotations,
        meta=_jsonable(meta),
        ids=ids_arr,
    )
