"""``harness bench``'s arguments, free of torch and MLflow so that ``--help`` stays fast (the
command itself is :mod:`harness.bench.command`)."""

from __future__ import annotations

import argparse

from harness.bench import DEFAULT_LENGTHS, LONG_LENGTHS, MODES


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The ``bench`` sub-command's options: the grid (models, lengths, batch, modes, caps), where
    it is recorded, and the two other benchmarks (``--overhead STUDY``, ``--gb-cache``)."""
    p.add_argument(
        "models",
        nargs="*",
        help="registered model names, each optionally with parameters: "
        "NAME:KEY=VALUE,KEY=VALUE (e.g. sparse_transformer:keep_tokens=1024)",
    )
    p.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=list(DEFAULT_LENGTHS),
        help=f"sequence lengths in bases (default {' '.join(map(str, DEFAULT_LENGTHS))})",
    )
    p.add_argument(
        "--long",
        action="store_true",
        help=f"also the lengths {' '.join(map(str, LONG_LENGTHS))}",
    )
    p.add_argument("--batch-size", type=int, default=1, help="sequences per batch (default 1)")
    p.add_argument(
        "--token-budget",
        type=int,
        help="also run each length at max(1, N // length) sequences per batch",
    )
    p.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        help=f"passes to measure: {', '.join(MODES)} (default both)",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed passes per point (median)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--max-memory-gb",
        type=float,
        default=16.0,
        help="memory cap per point in GiB; longer lengths are skipped past it (default 16)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="time cap per pass in seconds; longer lengths are skipped past it (default 60)",
    )
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or mlruns/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", help="also write the table as CSV (JSON with --overhead, --gb-cache)")
    p.add_argument("--plot", help="also draw time and memory against length (log-log PNG)")
    p.add_argument(
        "--overhead",
        metavar="STUDY",
        help="instead: run STUDY once (temporary store) and split its wall time into model "
        "fitting and the rest (imports, data, validation, evaluation, MLflow, report)",
    )
    p.add_argument(
        "--max-overhead",
        type=float,
        default=0.2,
        help="with --overhead: the share of the wall time outside fitting to report against "
        "(default 0.2)",
    )
    p.add_argument(
        "--gb-cache",
        action="store_true",
        help="instead: time the Genomic Benchmarks cache against the package's per-file reader",
    )
    p.add_argument(
        "--files", type=int, default=20_000, help="with --gb-cache: files generated (default 20000)"
    )
