"""Command line: ``python -m harness {run,validate,list,docs,ui,tune,report,bench}``.

Commands import their layer inside the function: torch, MLflow and Optuna take seconds to load, and
``--help``, ``validate`` and ``list`` need none of them.

Exit codes: 0 success, 2 bad input (one line, no traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import traceback
import typing
from pathlib import Path

from harness.bench.arguments import add_bench_arguments
from harness.core.errors import UserError

if typing.TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from harness.core.registry import Entry

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class _LazyConsole:
    """A rich ``Console`` made on first use: rich costs a tenth of a second to import, and
    ``--help`` and argument errors print nothing through it (``--help`` stays under 1 s)."""

    def __init__(self, **options: typing.Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> typing.Any:
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415 (deferred, see the class docstring)

            self._console = Console(**self._options)
        return getattr(self._console, name)


out = _LazyConsole(soft_wrap=True)  # paths and one-line messages are never broken
err_console = _LazyConsole(stderr=True, soft_wrap=True)


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.config.load import load_study  # noqa: PLC0415 (heavy, see docstring)
    from harness.run.runner import models_for  # noqa: PLC0415 (heavy, see docstring)

    study = load_study(args.study)
    n = len(study.seeds) * sum(len(models_for(study, d)) for d in study.datasets)
    out.print(
        f"{args.study}: ok — {len(study.datasets)} dataset(s), {len(study.models)} model(s), "
        f"{len(study.seeds)} seed(s): {n} runs"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness.config.load import load_study  # noqa: PLC0415 (heavy, see docstring)
    from harness.config.study import check_tracking_uri  # noqa: PLC0415 (heavy, see docstring)
    from harness.run.console import print_summary  # noqa: PLC0415 (heavy, see docstring)
    from harness.run.logged_model import (  # noqa: PLC0415 (heavy, see docstring)
        check_register_name,
        register_best,
    )
    from harness.run.runner import run_study  # noqa: PLC0415 (heavy, see docstring)

    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs: must be at least 1 (got {args.jobs})")
    _check_executor(args)
    study = load_study(args.study)
    # the study's `jobs`, unless --jobs says otherwise; Ray places units itself
    jobs = 1 if args.executor == "ray" else (args.jobs or study.jobs)
    if args.tracking_uri:
        uri = check_tracking_uri(args.tracking_uri, "--tracking-uri")
        study = study.model_copy(
            update={"tracking": study.tracking.model_copy(update={"uri": uri})}
        )
    if args.register is not None:
        check_register_name(args.register, study.evaluation.save_models)
    if args.system_metrics:  # MLflow's own switch; --jobs workers inherit it
        os.environ["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "true"
    outcome = run_study(
        study,
        show_progress=not args.no_progress,
        jobs=jobs,
        fresh=args.fresh,
        executor=args.executor,
        ray_address=args.ray_address,
    )
    print_summary(out, study, outcome)
    if args.register is not None:
        for reg in register_best(outcome.tracking_uri, args.register, outcome.results):
            out.print(f"registered {reg.name} version {reg.version}: {reg.describe()}")
    return 1 if outcome.failures else 0


def _check_executor(args: argparse.Namespace) -> None:
    """``run --executor``: ``--ray-address`` and Ray itself only with ``ray``; no ``--jobs``
    there (Ray places units by the resources they ask for: size the cluster instead)."""
    if args.executor != "ray":
        if args.ray_address:
            raise UserError("--ray-address: only with --executor ray")
        return
    if args.jobs is not None:
        raise UserError(
            "--jobs: not used with --executor ray (Ray runs as many units at once as its CPUs "
            "and GPUs allow; give it more with ray start)"
        )
    from harness.run.ray_executor import import_ray  # noqa: PLC0415 (heavy, see docstring)

    import_ray()  # the missing [ray] extra is refused before any run exists


def cmd_tune(args: argparse.Namespace) -> int:
    from harness.config.load import load_study  # noqa: PLC0415 (heavy, see docstring)
    from harness.config.study import check_tracking_uri  # noqa: PLC0415 (heavy, see docstring)
    from harness.config.tune import apply_overrides  # noqa: PLC0415 (heavy, see docstring)
    from harness.tune.main import run_tune  # noqa: PLC0415 (heavy, see docstring)

    def say(text: str) -> None:
        out.print(text)  # paths and run ids stay whole for copy-paste

    study = load_study(args.study)
    if args.tracking_uri:
        uri = check_tracking_uri(args.tracking_uri, "--tracking-uri")
        study = study.model_copy(
            update={"tracking": study.tracking.model_copy(update={"uri": uri})}
        )
    study = apply_overrides(
        study,
        workers=args.workers,
        n_trials=args.n_trials,
        timeout=args.timeout,
        storage=args.storage,
        confirm=False if args.no_confirm else None,
    )
    result = run_tune(study, show_progress=not args.no_progress)
    say(
        f"tune {result.study_name}: {result.n_trials} trials ({result.n_complete} complete, "
        f"{result.n_pruned} pruned, {result.n_fail} failed) in {result.storage}"
    )
    for problem in result.worker_errors:
        err_console.print(f"[red]{problem}[/red]", highlight=False)
    if result.best_trial is None:
        err_console.print("no trial completed: no best configuration", highlight=False)
        return 1
    params = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in result.best_params.items()
    )
    say(f"best {result.metric} = {result.best_value:.4f} (trial {result.best_trial}): {params}")
    say(f"best study: {result.best_study}  (python -m harness run {result.best_study})")
    if result.confirm:
        c = result.confirm
        say(
            f"confirm on test over {c['n']} seed(s), {c['metric']}: tuned {c['tuned_mean']:.4f} "
            f"vs default {c['default_mean']:.4f}, diff {c['diff']:+.4f} "
            f"[95% CI {c['diff_ci_lo']:.4f}, {c['diff_ci_hi']:.4f}], paired t p={c['t_p']:.3g}, "
            f"Wilcoxon p={c['wilcoxon_p']:.3g}"
        )
    say(f"MLflow parent run: {result.parent_run_id} ({result.tracking_uri})")
    if "://" not in result.storage:
        say(f"dashboard: optuna-dashboard {result.storage}")
    failed = result.worker_errors or (result.confirm and result.confirm["failures"])
    return 1 if failed else 0


def _described(entry: Entry) -> str:
    """The entry's one-line description, with its role and the seed text it reproduces."""
    from harness.config.describe import entry_notes  # noqa: PLC0415 (heavy, see docstring)

    return entry.description + "".join(f"\n[dim]{n}[/dim]" for n in entry_notes(entry))


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table  # noqa: PLC0415 (heavy, see docstring)

    from harness.core.registry import ADAPTERS, MODELS, load_plugins  # noqa: PLC0415 (heavy, see docstring)

    load_plugins()
    if args.verbose:
        for title, table in (("adapter", ADAPTERS), ("model", MODELS)):
            for name in sorted(table):
                out.print(_params_table(title, table[name]))
        return 0
    for title, table in (("Adapters", ADAPTERS), ("Models", MODELS)):
        grid = Table(title=title, show_lines=True)
        grid.add_column("name", style="bold")
        grid.add_column("description")
        grid.add_column("parameters (default)")
        for name in sorted(table):
            entry = table[name]
            params = []
            for field_name, field in entry.params.model_fields.items():
                default = field.get_default(call_default_factory=True)
                params.append(f"{field_name} = {default!r}")
            grid.add_row(name, _described(entry), "\n".join(params) or "—")
        out.print(grid)
    return 0


def _params_table(kind: str, entry: Entry) -> Table:
    """``harness list -v``: one adapter's or model's params, each with its type, default,
    allowed values and meaning (from its pydantic schema)."""
    from rich.markup import escape  # noqa: PLC0415 (heavy, see docstring)
    from rich.table import Table  # noqa: PLC0415 (heavy, see docstring)
    from rich.text import Text  # noqa: PLC0415 (heavy, see docstring)

    from harness.config.describe import describe, entry_notes, train_defaults_notes  # noqa: PLC0415 (heavy, see docstring)

    notes = entry_notes(entry) + train_defaults_notes(entry)
    grid = Table(
        title=f"{kind} [bold]{entry.name}[/bold]: {escape(entry.description)}",
        caption="\n".join(escape(n) for n in notes) or None,
        title_justify="left",
        caption_justify="left",
    )
    for column in ("parameter", "type", "default", "allowed", "meaning"):
        grid.add_column(column, style="bold" if column == "parameter" else None)
    for row in describe(entry.params):
        # Text cells: types and patterns hold brackets that rich would read as markup
        grid.add_row(
            *(Text(v) for v in (row.name, row.type, row.default, row.allowed, row.meaning))
        )
    if not grid.rows:
        grid.add_row("—", "", "", "", "no parameters")
    return grid


def cmd_docs(args: argparse.Namespace) -> int:
    """Write the study reference (docs/study_reference.md) generated from the schemas."""
    from harness.config.reference import study_reference_markdown  # noqa: PLC0415 (heavy, see docstring)

    sys.stdout.write(study_reference_markdown())  # plain: rich would wrap and colour it
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from harness.run.tracking import resolve_uri  # noqa: PLC0415 (heavy, see docstring)

    if not 1 <= args.port <= 65535:
        raise UserError(f"--port: {args.port} is not a TCP port (valid: 1 to 65535)")
    uri = resolve_uri(args.tracking_uri, create=False)
    out.print(f"MLflow UI for {uri} on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
    ]
    return serve(command)


def serve(command: list[str]) -> int:
    """Run a server (MLflow's UI and its workers) in its own process group until it exits or
    this process gets SIGINT/SIGTERM, which stops the whole group: no orphaned workers."""
    server = subprocess.Popen(command, start_new_session=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return server.wait()
    except KeyboardInterrupt:
        _stop_group(server)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left after 10 s (workers
    that outlive their leader included); a second Ctrl-C meanwhile cannot cut this short."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    _signal_group(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=10)
    _signal_group(server.pid, signal.SIGKILL)
    server.wait()


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild a study's report from its parent run's ``analysis/`` artifacts alone.

    Nothing is recomputed and no run results or data are loaded: the page is rendered from the
    saved Analysis, so it equals the one the run wrote.
    """
    # heavy (mlflow, pandas, matplotlib, jinja2), deferred so that `validate` and `list` start fast
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (heavy, see docstring)

    from harness.analysis.bundle import Analysis  # noqa: PLC0415 (heavy, see docstring)
    from harness.report.render import write_report  # noqa: PLC0415 (heavy, see docstring)
    from harness.run.tracking import resolve_uri  # noqa: PLC0415 (heavy, see docstring)

    if not RUN_ID.match(args.run_id):
        raise UserError(f"run_id: {args.run_id!r} is not an MLflow run id (32 hex characters)")
    uri = resolve_uri(args.tracking_uri, create=False)
    try:
        client = MlflowClient(tracking_uri=uri)
        run = client.get_run(args.run_id)
    except Exception:  # any store error means the same to the user: no such run there
        raise UserError(f"no MLflow run {args.run_id!r} in {uri}") from None
    tags = run.data.tags
    if tags.get("kind") == "child":
        raise UserError(
            f"run {args.run_id} is a child run ({run.info.run_name}); give its study's parent "
            f"run id {tags.get('mlflow.parentRunId')}"
        )
    if not client.list_artifacts(args.run_id, "analysis"):
        raise UserError(
            f"run {args.run_id} has no analysis/ artifacts to rebuild a report from: give the "
            "parent run id `harness run` printed (child runs and studies run before the "
            "analysis stage have none)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        analysis = Analysis.load(Path(client.download_artifacts(args.run_id, "analysis", tmp)))
    out_dir = Path(args.out) if args.out else Path("reports") / analysis.meta.study
    paths = write_report(analysis, out_dir)
    if client.list_artifacts(args.run_id, "report"):
        # nothing logged is overwritten: the run keeps its own report, the rebuild stays local
        out.print(f"report: {paths['html']} (the run's own report/ artifacts are kept as they are)")
    else:
        client.log_artifacts(args.run_id, str(out_dir), "report")
        out.print(f"report: {paths['html']} (also logged to run {args.run_id} as report/)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench.command import run_bench_command  # noqa: PLC0415 (heavy, see docstring)

    return run_bench_command(args, out)


class Parser(argparse.ArgumentParser):
    """argparse whose errors are the CLI's one-line :class:`UserError` (exit 2), not usage text."""

    def error(self, message: str) -> typing.NoReturn:
        raise UserError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train and evaluate every dataset × model × seed of a study")
    p.add_argument("study", help="study YAML file")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (overrides the study)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--jobs",
        type=int,
        help="worker processes, one (dataset, seed) each (default: the study's jobs, else 1)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start a new parent run even if an interrupted run of this study could be resumed",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: this process or --jobs workers; ray: one Ray task per (dataset, seed), "
        "needs the [ray] extra (default local)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster to join, e.g. HOST:6379 (default: $RAY_ADDRESS, else a local instance)",
    )
    p.add_argument(
        "--register",
        metavar="NAME",
        help="register the best model (validation primary metric) in the Model Registry as NAME",
    )
    p.add_argument(
        "--system-metrics",
        action="store_true",
        help="log CPU, memory and GPU metrics (system/*) per child run (needs psutil)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tune", help="search a model's hyper-parameters (the study's tune: section)")
    p.add_argument("study", help="study YAML file with a tune: section")
    p.add_argument("--workers", type=int, help="parallel worker processes (overrides the study)")
    p.add_argument("--n-trials", type=int, help="total trials, earlier runs included")
    p.add_argument("--timeout", type=float, help="seconds this invocation may search")
    p.add_argument("--storage", help="Optuna storage: RDB URL or journal file path")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (overrides the study)")
    p.add_argument("--no-confirm", action="store_true", help="skip the test-split confirmation")
    p.add_argument("--no-progress", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("validate", help="check a study file without running it")
    p.add_argument("study")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("list", help="registered adapters and models with their parameters")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="one table per adapter and model: each parameter's type, default, allowed values "
        "and meaning",
    )
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "docs",
        help="print the study file reference (Markdown, from the schemas); "
        "> docs/study_reference.md",
    )
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 for the default store")
    p.add_argument(
        "--tracking-uri", help="store to show (default: $MLFLOW_TRACKING_URI or mlruns/)"
    )
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser(
        "report", help="rebuild the report of a finished study run from its logged analysis"
    )
    p.add_argument("run_id", help="parent MLflow run id printed by `run`")
    p.add_argument(
        "--tracking-uri", help="store of the run (default: $MLFLOW_TRACKING_URI or mlruns/)"
    )
    p.add_argument("--out", help="output folder (default reports/<study>)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "bench", help="time and peak memory of inference and a training step, by length"
    )
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UserError as err:
        err_console.print(f"error: {err}", highlight=False, markup=False)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
