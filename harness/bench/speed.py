"""``harness bench``: time and peak memory of the model box alone (inference and one training
step), by sequence length, at a fixed batch and at a fixed token budget.

Speed and memory figures are measured here and written down; tests never assert wall-clock limits.
Every argument is checked before the first model is built (:func:`check_arguments`), so a typo
costs a one-line error rather than a half-finished table. Each point runs in a fresh process
(:mod:`harness.bench.isolate`); a point that runs out of memory or time, or is estimated to, is
recorded with the reason and the model's longer lengths are skipped for the same reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.bench import MODES, isolate
from harness.bench.specs import check_model_spec
from harness.bench.worker import PointSpec
from harness.core.dataset import DatasetInfo
from harness.core.devices import MAX_THREADS, resolve_device
from harness.core.errors import UserError
from harness.core.model import FittedModel
from harness.core.registry import get_model, suggest

GIB = 2**30
# Memory one token of one sequence is assumed to take when the length bound is derived: its int64
# id plus 256 float32 activations alive at once (e.g. width 64 in four tensors). A low estimate
# for the registered models, so only lengths that cannot fit are refused; a model quadratic in
# the length can still run out below the bound (that is recorded as a row, not an error).
BYTES_PER_TOKEN = 8 + 4 * 256
COLUMNS = (
    "model",
    "mode",
    "setting",
    "length",
    "batch_size",
    "n_params",
    "macs_per_seq",
    "ms_per_batch",
    "us_per_seq",
    "tensor_peak_mb",
    "rss_peak_mb",
    "stopped",
)
# messages above the live progress line, never broken (paths and model names stay whole)
console = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True)
class BenchPlan:
    """Checked ``harness bench`` arguments (:func:`check_arguments`); lengths ascending, modes in
    :data:`~harness.bench.MODES` order."""

    models: tuple[str, ...]
    lengths: tuple[int, ...]
    batch_size: int = 1
    repeats: int = 3
    device: str = "cpu"
    threads: int = 2
    modes: tuple[str, ...] = MODES
    token_budget: int | None = None
    max_memory_gb: float = 16.0
    max_seconds: float | None = 60.0
    memory_bytes: int = field(default=16 * GIB)  # max_memory_gb, at most what the device has

    @property
    def settings(self) -> tuple[str, ...]:
        """``batch`` (``batch_size`` sequences), then ``budget`` with a token budget."""
        return ("batch", "budget") if self.token_budget else ("batch",)

    def batch_for(self, setting: str, length: int) -> int:
        """Sequences per batch: ``batch_size``, or ``max(1, token_budget // length)``."""
        if setting == "budget" and self.token_budget:
            return max(1, self.token_budget // length)
        return self.batch_size

    @property
    def n_points(self) -> int:
        return len(self.models) * len(self.settings) * len(self.lengths) * len(self.modes)

    def params(self) -> dict[str, object]:
        """What a run records of the plan (MLflow params), torch's version with it."""
        return {
            "models": list(self.models),
            "lengths": list(self.lengths),
            "batch_size": self.batch_size,
            "token_budget": self.token_budget or 0,
            "modes": list(self.modes),
            "repeats": self.repeats,
            "threads": self.threads,
            "device": self.device,
            "max_memory_gb": round(self.memory_bytes / GIB, 3),
            "max_seconds": self.max_seconds or 0,
            "torch": torch.__version__,
        }


# ------------------------------------------------------------------------------------ checks
def _at_least_one(flag: str, value: int) -> None:
    if value < 1:
        raise UserError(f"{flag}: {value} is out of range (valid: 1 or more)")


def _above_zero(flag: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise UserError(f"{flag}: {value:g} is out of range (valid: a number above 0)")


def _check_models(models: list[str]) -> None:
    """Every spec (:mod:`harness.bench.specs`) valid and a torch model (a closed-form baseline
    has no forward to time)."""
    if not models:
        raise UserError("models: none given (name at least one; `harness list` shows them)")
    for spec in models:
        name, params = check_model_spec(spec)
        entry = get_model(name)
        if isinstance(entry.factory, type) and issubclass(entry.factory, FittedModel):
            raise UserError(f"bench: {name!r} is not a torch model (nothing to time)")
        try:  # a combination only the constructor refuses (a method that needs a teacher)
            entry.factory(entry.params.model_validate(params), DatasetInfo(64, "binary", 2))
        except ValueError as err:
            raise UserError(f"models: {spec!r}: {err}") from None


def _check_modes(modes: list[str]) -> None:
    if not modes:
        raise UserError(f"--modes: none given (valid: {', '.join(MODES)})")
    for mode in modes:
        if mode not in MODES:
            raise UserError(
                f"--modes: unknown mode {mode!r}{suggest(mode, MODES)} (valid: {', '.join(MODES)})"
            )


def device_memory(device: str) -> int:
    """Bytes of memory on ``device``: the GPU's own on CUDA, else the machine's RAM (which MPS
    shares)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _size(n_bytes: float) -> str:
    """``n_bytes`` in the largest binary unit that keeps it at or above 1 (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def _check_lengths(lengths: list[int], batch_size: int, device: str) -> None:
    """Each length at least 1 and, at ``batch_size``, within the memory ``device`` has
    (estimated at :data:`BYTES_PER_TOKEN` per token)."""
    memory = device_memory(device)
    longest = memory // (batch_size * BYTES_PER_TOKEN)
    if longest < 1:
        raise UserError(
            f"--batch-size: {batch_size} does not fit {device} even at length 1: about "
            f"{_size(batch_size * BYTES_PER_TOKEN)} estimated ({BYTES_PER_TOKEN} bytes per "
            f"token), {device} has {_size(memory)} (valid: 1 to {memory // BYTES_PER_TOKEN})"
        )
    if not lengths:
        raise UserError(f"--lengths: none given (valid: 1 to {longest})")
    for length in lengths:
        if length < 1:
            raise UserError(f"--lengths: {length} is out of range (valid: 1 to {longest})")
        if length > longest:
            raise UserError(
                f"--lengths: {length} does not fit {device} at --batch-size {batch_size}: about "
                f"{_size(length * batch_size * BYTES_PER_TOKEN)} estimated ({BYTES_PER_TOKEN} "
                f"bytes per token), {device} has {_size(memory)} (valid: 1 to {longest})"
            )


def check_arguments(
    models: list[str],
    lengths: list[int],
    batch_size: int = 1,
    repeats: int = 3,
    device: str = "cpu",
    threads: int = 2,
    modes: list[str] | tuple[str, ...] = MODES,
    token_budget: int | None = None,
    max_memory_gb: float = 16.0,
    max_seconds: float | None = 60.0,
) -> BenchPlan:
    """Refuse bad ``harness bench`` arguments before any work; returns the plan to run.

    Raises
    ------
    UserError
        One line naming the flag and its valid range: a count below 1 (batch size, repeats,
        threads, token budget), a mode not in :data:`~harness.bench.MODES`, a memory cap or
        time cap that is not a number above 0, an unknown or non-torch model, a device that is
        unknown or not on this machine, or a length (or a token budget) below 1 or beyond the
        memory bound of :func:`_check_lengths`.
    """
    _at_least_one("--batch-size", batch_size)
    _at_least_one("--repeats", repeats)
    _at_least_one("--threads", threads)
    if threads > MAX_THREADS:
        raise UserError(f"--threads: {threads} is too many (valid: 1 to {MAX_THREADS})")
    if token_budget is not None:
        _at_least_one("--token-budget", token_budget)
    _check_modes(list(modes))
    _above_zero("--max-memory-gb", max_memory_gb)
    if max_seconds is not None:
        _above_zero("--max-seconds", max_seconds)
    _check_models(models)
    resolved = resolve_device(device, where="--device")
    _check_lengths(lengths, batch_size, resolved)
    memory = device_memory(resolved)
    if token_budget is not None and token_budget * BYTES_PER_TOKEN > memory:
        raise UserError(
            f"--token-budget: {token_budget} does not fit {resolved}: about "
            f"{_size(token_budget * BYTES_PER_TOKEN)} estimated, {resolved} has {_size(memory)} "
            f"(valid: 1 to {memory // BYTES_PER_TOKEN})"
        )
    return BenchPlan(
        models=tuple(dict.fromkeys(models)),
        lengths=tuple(sorted(set(lengths))),
        batch_size=batch_size,
        repeats=repeats,
        device=resolved,
        threads=threads,
        modes=tuple(m for m in MODES if m in modes),
        token_budget=token_budget,
        max_memory_gb=max_memory_gb,
        max_seconds=max_seconds,
        memory_bytes=min(int(max_memory_gb * GIB), memory),
    )


# ------------------------------------------------------------------------------------ the grid
def _extrapolate(points: list[tuple[int, float]], length: int) -> float | None:
    """The value at ``length`` along the log-log line through the last two measured ``(length,
    value)`` points (linear in length from a single point); None with none."""
    ok = [(x, y) for x, y in points if np.isfinite(y) and y > 0]
    if not ok:
        return None
    (x1, y1), slope = ok[-1], 1.0
    if len(ok) >= 2:
        x0, y0 = ok[-2]
        slope = max(0.0, math.log(y1 / y0) / math.log(x1 / x0))
    return y1 * (length / x1) ** slope


@dataclass
class _Series:
    """One (model, setting, mode): its measured rows so far and the reason it stopped."""

    rows: list[dict[str, object]] = field(default_factory=list)
    stopped: str = ""

    def estimate(self, plan: BenchPlan, length: int, batch: int) -> str:
        """A stop reason when the next point is estimated beyond the memory or time cap.

        Memory: the larger of the tensor and RSS peaks extrapolated from the measured points,
        or, before any, :data:`BYTES_PER_TOKEN` per token of the batch (a lower bound). Time:
        the time per batch extrapolated the same way.
        """
        memory = _extrapolate([(r["length"], _peak_mb(r)) for r in self.rows], length)
        needed = memory * 2**20 if memory is not None else batch * length * BYTES_PER_TOKEN
        if needed > plan.memory_bytes:
            return f"over {plan.memory_bytes / GIB:g} GB estimate"
        seconds = _extrapolate([(r["length"], r["ms_per_batch"]) for r in self.rows], length)
        if (
            plan.max_seconds is not None
            and seconds is not None
            and seconds / 1000 > plan.max_seconds
        ):
            return "over time cap estimate"
        return ""


def _peak_mb(row: dict[str, object]) -> float:
    """The larger of a measured row's tensor and RSS peaks (MiB), NaN when neither is known."""
    known = [float(row[c]) for c in ("tensor_peak_mb", "rss_peak_mb") if np.isfinite(row[c])]
    return max(known, default=float("nan"))


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=True,
    )


def run_bench(
    plan: BenchPlan, show_progress: bool = False, sink: list[dict[str, object]] | None = None
) -> pd.DataFrame:
    """Every (model, setting, length, mode) point of ``plan``, each in a fresh process.

    Lengths run in ascending order per model and setting, inference before the training step at
    each length. A point that stops (out of memory, over the time cap, an error, or estimated
    over either cap by :meth:`_Series.estimate`) is a row with its ``stopped`` reason; every
    longer length of that (model, setting, mode) is a row with the same reason and is not run,
    and a stopped inference point stops the training step at the same lengths too (a training
    step needs more of both). A ``budget`` point whose batch equals the fixed batch reuses that
    measurement.

    ``sink``, when given, receives each row as soon as it is measured, so a caller keeps the
    points measured before an interruption or a failure.

    Returns
    -------
    one row per point, columns :data:`COLUMNS` (figures NaN where ``stopped`` is not empty),
    sorted by model (as given), setting, mode and length.
    """
    series = {
        (m, s, mode): _Series() for m in plan.models for s in plan.settings for mode in plan.modes
    }
    done: dict[tuple[str, str, int, int], dict[str, object]] = {}
    with _progress(show_progress) as progress:
        task = progress.add_task("", total=plan.n_points)
        for name in plan.models:
            for setting in plan.settings:
                for length in plan.lengths:
                    batch = plan.batch_for(setting, length)
                    for mode in plan.modes:
                        progress.update(task, description=f"{name} {mode} L={length:,} ×{batch}")
                        row = _run_one(plan, series, done, (name, setting, mode), length, batch)
                        if sink is not None:
                            sink.append(row)
                        progress.advance(task)
    return rows_frame([row for s in series.values() for row in s.rows])


def rows_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Bench rows as the table :func:`run_bench` returns (columns :data:`COLUMNS`)."""
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _run_one(
    plan: BenchPlan,
    series: dict[tuple[str, str, str], _Series],
    done: dict[tuple[str, str, int, int], dict[str, object]],
    key: tuple[str, str, str],
    length: int,
    batch: int,
) -> dict[str, object]:
    """Measure (or skip) one point, append its row to its series and return it."""
    name, setting, mode = key
    line = series[key]
    reason = line.stopped or line.estimate(plan, length, batch)
    figures: dict[str, object] = {}
    if not reason:
        figures = done.get((name, mode, length, batch)) or measure_point(plan, key, length, batch)
        done[(name, mode, length, batch)] = figures
        reason = str(figures.get("stopped", ""))
    row = {"model": name, "mode": mode, "setting": setting, "length": length, "batch_size": batch}
    line.rows.append({**row, **figures, "stopped": reason})
    if reason and not line.stopped:
        line.stopped = reason
        if mode == MODES[0] and (name, setting, MODES[1]) in series:
            train = series[(name, setting, MODES[1])]
            train.stopped = train.stopped or reason
    return line.rows[-1]


def measure_point(
    plan: BenchPlan, key: tuple[str, str, str], length: int, batch: int
) -> dict[str, object]:
    """One point in a fresh process (:func:`harness.bench.isolate.run_point`)."""
    name, _, mode = key
    spec = PointSpec(
        model=name,
        length=length,
        batch_size=batch,
        mode=mode,
        repeats=plan.repeats,
        device=plan.device,
        threads=plan.threads,
        max_seconds=plan.max_seconds,
        max_memory_bytes=plan.memory_bytes,
    )
    return isolate.run_point(spec)


def bench(
    models: list[str],
    lengths: list[int],
    batch_size: int = 1,
    repeats: int = 3,
    device: str = "cpu",
    threads: int = 2,
    show_progress: bool = False,
    **options: object,
) -> pd.DataFrame:
    """:func:`check_arguments`, then :func:`run_bench`; ``options`` are the other arguments of
    :func:`check_arguments` (``modes``, ``token_budget``, ``max_memory_gb``, ``max_seconds``).

    Raises
    ------
    UserError
        Bad arguments, before anything is built or timed.
    """
    plan = check_arguments(models, lengths, batch_size, repeats, device, threads, **options)
    return run_bench(plan, show_progress)


# -------------------------------------------------------------------------------------- slopes
_SLOPES = {
    "ms_per_batch": "time_slope",
    "tensor_peak_mb": "tensor_memory_slope",
    "rss_peak_mb": "rss_memory_slope",
}


def _slope(runs: pd.DataFrame, column: str) -> float:
    """Slope of log(figure per sequence) against log(length): per sequence, so that a token
    budget's batches (which shrink with length, and stop shrinking at one sequence) read on the
    same scale as a fixed batch."""
    per_seq = runs[column] / runs.get("batch_size", 1)
    ok = np.isfinite(per_seq) & (per_seq > 0)
    if runs.loc[ok, "length"].nunique() < 2:
        return float("nan")
    return float(np.polyfit(np.log(runs.loc[ok, "length"]), np.log(per_seq[ok]), 1)[0])


def loglog_slopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model (and mode and setting, where the frame has them), the fitted slope of the log
    of time and of each peak memory against log(length), and where the series stopped.

    Parameters
    ----------
    frame : :func:`run_bench` rows (at least ``model``, ``length`` and one of ``ms_per_batch``,
        ``tensor_peak_mb``, ``rss_peak_mb``)

    Returns
    -------
    one row per series: its keys, ``lengths`` (measured range, ``"1024-32768"``), a slope per
    figure, fitted per sequence (figure / batch size) in every setting (1 = linear in length,
    2 = quadratic; NaN with fewer than two finite, positive points), and with a ``stopped`` column
    ``stopped_at`` (the first length that stopped, 0 for none) and its reason ``stopped``.
    """
    keys = [c for c in ("model", "mode", "setting") if c in frame.columns]
    rows = []
    for values, runs in frame.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        row: dict[str, object] = dict(zip(keys, values, strict=True))
        stops = runs[runs["stopped"].fillna("") != ""] if "stopped" in runs else runs.iloc[:0]
        measured = runs.drop(stops.index)
        span = measured if len(measured) else runs
        row["lengths"] = f"{span['length'].min()}-{span['length'].max()}"
        for column, name in _SLOPES.items():
            if column in runs:
                row[name] = _slope(measured, column)
        if "stopped" in runs:
            first = stops.sort_values("length").head(1)
            row["stopped_at"] = int(first["length"].iloc[0]) if len(first) else 0
            row["stopped"] = str(first["stopped"].iloc[0]) if len(first) else ""
        rows.append(row)
    return pd.DataFrame(rows)
