"""``harness bench``: the command behind the CLI's sub-command (the time-and-memory grid,
``--overhead`` and ``--gb-cache``), kept beside what it measures so ``harness/__main__.py`` stays a
thin dispatcher. Imported only when ``bench`` runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from harness.bench import LONG_LENGTHS
from harness.bench.gb_cache import gb_cache_table, measure_gb_cache
from harness.bench.overhead import check_overhead_target, measure_overhead
from harness.bench.plots import plot_scaling
from harness.bench.record import EXPERIMENT, log_bench
from harness.bench.speed import check_arguments, loglog_slopes, rows_frame, run_bench
from harness.config.study import check_tracking_uri
from harness.core.errors import UserError
from harness.run.tracking import Tracker


def run_bench_command(args: argparse.Namespace, out: Console) -> int:
    """Measure the grid (each point in a fresh process), print the table and the log-log slopes,
    and log all of it as one run of the MLflow experiment ``bench``; ``--out`` / ``--plot`` also
    write the CSV and PNG locally."""

    for flag, path in (("--out", args.out), ("--plot", args.plot)):
        if path and Path(path).is_dir():
            raise UserError(f"{flag}: {path} is a folder; give the path of a file")
    if args.overhead is not None or args.gb_cache:
        if args.models or (args.overhead is not None and args.gb_cache):
            raise UserError(
                "bench: --overhead STUDY, --gb-cache and model names are separate benchmarks; "
                "give one of them"
            )
        return (
            _bench_overhead(args, out) if args.overhead is not None else _bench_gb_cache(args, out)
        )
    if not args.models:
        raise UserError("bench: give model names (see `harness list`), --overhead or --gb-cache")
    if args.tracking_uri:
        check_tracking_uri(args.tracking_uri, "--tracking-uri")
    plan = check_arguments(
        args.models,
        args.lengths + (list(LONG_LENGTHS) if args.long else []),
        args.batch_size,
        args.repeats,
        args.device,
        args.threads,
        args.modes,
        args.token_budget,
        args.max_memory_gb,
        args.max_seconds,
    )
    tracker = Tracker(args.tracking_uri, EXPERIMENT)
    run_id = tracker.start_run("bench", {"kind": "bench"})
    measured: list[dict[str, object]] = []
    try:
        frame = run_bench(plan, show_progress=not args.no_progress, sink=measured)
    except BaseException as err:  # keep what was measured, record why the run ended, go on up
        stopped = isinstance(err, KeyboardInterrupt)
        if measured:
            partial = rows_frame(measured)
            log_bench(tracker, run_id, plan.params(), partial, loglog_slopes(partial))
            _write_bench_csv(partial, args.out, out)
        tracker.finish(run_id, f"{type(err).__name__}: {err}", "KILLED" if stopped else "FAILED")
        raise
    slopes = loglog_slopes(frame)
    log_bench(tracker, run_id, plan.params(), frame, slopes)
    tracker.finish(run_id)
    out.print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"), highlight=False)
    out.print("log-log slopes per sequence against length (1 = linear, 2 = quadratic):")
    out.print(slopes.to_string(index=False, float_format=lambda v: f"{v:.2f}"), highlight=False)
    if args.plot:
        out.print(f"plot: {plot_scaling(frame, Path(args.plot))}")
    _write_bench_csv(frame, args.out, out)
    out.print(f"MLflow run {run_id} ({tracker.uri}, experiment {EXPERIMENT})")
    return 0


def _bench_overhead(args: argparse.Namespace, out: Console) -> int:
    """``bench --overhead STUDY``: the study run once in a fresh process on a temporary store,
    its wall time split into model fitting and everything around it (``--out``: the JSON)."""

    study = Path(args.overhead)
    if not study.is_file():
        raise UserError(f"--overhead: {study} is not a study file")
    breakdown = measure_overhead(study)
    out.print(breakdown.table(), highlight=False)
    _write_bench_json(breakdown.to_json(), args.out, out)
    missed = check_overhead_target(breakdown, args.max_overhead)
    if missed:
        out.print(f"target missed: {missed}", highlight=False)
    return 0


def _bench_gb_cache(args: argparse.Namespace, out: Console) -> int:
    """``bench --gb-cache``: the Genomic Benchmarks cache against the package's per-file reader
    on ``--files`` generated files (``--out``: the JSON)."""

    figures = measure_gb_cache(args.files, args.repeats)
    out.print(gb_cache_table(figures), highlight=False)
    _write_bench_json(figures, args.out, out)
    return 0


def _write_bench_json(figures: dict[str, Any], path: str | None, out: Console) -> None:
    """``bench --overhead / --gb-cache --out``: the figures as JSON."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(figures, indent=1) + "\n")
        out.print(f"written: {path}")


def _write_bench_csv(frame: pd.DataFrame, path: str | None, out: Console) -> None:
    """``harness bench --out``: the table as CSV (also the points measured before a failure)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        out.print(f"written: {path}")
