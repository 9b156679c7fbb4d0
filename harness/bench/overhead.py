"""Where a study's wall time goes: model fitting against everything around it.

``harness bench --overhead STUDY.yaml`` runs the study in a fresh Python process (so interpreter
start-up and imports are counted as ``harness run`` pays them), against a temporary MLflow store,
with a clock on the harness's own entry points. Each phase's time is *exclusive*: a phase nested
in another (validation inside fitting, MLflow logging inside an epoch callback) is taken out of
its parent, so the phases add up to the child's wall time; what no timer covers (start-up,
console output, the runner's bookkeeping) is ``other``.

Phases (``PHASES``): ``startup`` (interpreter start to this module), ``imports`` (the harness
layers, torch, MLflow), ``config`` (study file), ``data`` (adapters), ``fitting`` (the training
loop), ``validation`` (the per-epoch validation passes inside fitting), ``importance``,
``ablation``, ``evaluation`` (test predictions and metrics), ``mlflow`` (every store call),
``analysis``, ``report`` (also the console summary), ``exit`` (interpreter shutdown),
``other``. Only the main thread is clocked: the parent run's heartbeat thread is not part of the
critical path.
"""

from __future__ import annotations

import time

# The child's clock starts before anything heavy is imported: the gap between the parent's
# Popen and this line is interpreter start-up.
_MODULE_START = time.time()

import argparse  # noqa: E402 (after the start-up mark, on purpose)
import contextlib  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from harness.core.errors import UserError  # noqa: E402

PHASES = (
    "startup",
    "imports",
    "config",
    "data",
    "fitting",
    "validation",
    "evaluation",
    "importance",
    "ablation",
    "mlflow",
    "analysis",
    "report",
    "exit",
    "other",
)
# The phases that are the models learning; all the others are overhead around the training.
FITTING = ("fitting",)
# (module, attribute, phase): the functions whose calls are clocked. A name is patched where it
# is looked up (``harness.run.runner.evaluate``, not only ``harness.train.evaluate.evaluate``).
PATCHES: tuple[tuple[str, str, str], ...] = (
    # torch imports torch._dynamo lazily on the first call (seconds): an import, not the run
    ("torch", "use_deterministic_algorithms", "imports"),
    ("harness.core.registry", "load_plugins", "imports"),
    ("harness.run.runner", "load_dataset", "data"),
    ("harness.train.unit", "fit", "fitting"),
    ("harness.train.fit", "fit", "fitting"),
    ("harness.train.fit", "_evaluate", "validation"),
    ("harness.train.fit", "_epoch_extras", "validation"),
    ("harness.train.fit", "validation_threshold", "validation"),
    ("harness.run.runner", "evaluate", "evaluation"),
    ("harness.train.evaluate", "compute_importance", "importance"),
    ("harness.train.evaluate", "ablation_curves", "ablation"),
    ("harness.run.runner", "log_result", "mlflow"),
    ("harness.run.runner", "log_dataset_record", "mlflow"),
    ("harness.run.runner", "claim_unfinished", "mlflow"),
    ("harness.run.runner", "Tracker", "mlflow"),
    ("harness.run.finish", "analyze", "analysis"),
    ("harness.run.finish", "write_report", "report"),
)
# Tracker methods that talk to the store (the class itself is clocked when constructed).
TRACKER_METHODS = (
    "start_run",
    "finish",
    "log_params",
    "log_metrics",
    "set_tags",
    "log_files",
    "log_dir",
)


class PhaseClock:
    """Exclusive time per phase on one thread: entering a phase pauses the one it is nested in.

    Parameters
    ----------
    root : the phase charged while no other is open
    """

    def __init__(self, root: str = "other") -> None:
        self.totals: dict[str, float] = {}
        self.stack: list[str] = [root]
        self.thread = threading.current_thread()
        self.mark = time.perf_counter()

    def _charge(self) -> None:
        now = time.perf_counter()
        self.totals[self.stack[-1]] = self.totals.get(self.stack[-1], 0.0) + now - self.mark
        self.mark = now

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Charge the time inside the block to ``name`` (other threads pass through uncharged)."""
        if threading.current_thread() is not self.thread:
            yield
            return
        self._charge()
        self.stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self.stack.pop()

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` with its calls charged to ``name``."""

        @functools.wraps(func)
        def clocked(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return func(*args, **kwargs)

        clocked.__wrapped_phase__ = name  # type: ignore[attr-defined]
        return clocked

    def close(self) -> dict[str, float]:
        """The totals, the root phase charged up to now."""
        self._charge()
        return dict(self.totals)


@contextlib.contextmanager
def clocked_harness(clock: PhaseClock) -> Iterator[None]:
    """Install the clock on ``PATCHES`` and the tracker's methods; restored on exit."""
    import importlib  # noqa: PLC0415 (only the measuring child needs it)

    undo: list[tuple[Any, str, Any]] = []
    try:
        for module_name, attr, name in PATCHES:
            module = importlib.import_module(module_name)
            original = getattr(module, attr)
            undo.append((module, attr, original))
            setattr(module, attr, clock.wrap(name, original))
        tracker = importlib.import_module("harness.run.tracking").Tracker
        for method in TRACKER_METHODS:
            original = tracker.__dict__[method]
            undo.append((tracker, method, original))
            setattr(tracker, method, clock.wrap("mlflow", original))
        yield
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)


@dataclass
class Breakdown:
    """A study's wall time by phase (seconds) and what the child runs logged themselves."""

    study: str
    wall: float
    phases: dict[str, float]
    logged_train_seconds: float = 0.0  # the sum of the children's ``train_seconds``
    n_runs: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def fitting(self) -> float:
        return sum(self.phases.get(p, 0.0) for p in FITTING)

    @property
    def overhead(self) -> float:
        return self.wall - self.fitting

    def rows(self) -> list[tuple[str, float, float]]:
        """(phase, seconds, share of the wall time) in ``PHASES`` order, every phase listed."""
        return [(p, self.phases.get(p, 0.0), self.phases.get(p, 0.0) / self.wall) for p in PHASES]

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "wall_seconds": self.wall,
            "fitting_seconds": self.fitting,
            "overhead_seconds": self.overhead,
            "overhead_share": self.overhead / self.wall,
            "logged_train_seconds": self.logged_train_seconds,
            "n_runs": self.n_runs,
            "phases": {p: self.phases.get(p, 0.0) for p in PHASES},
            **self.notes,
        }

    def table(self) -> str:
        """The breakdown as aligned text lines."""
        lines = [f"{'phase':<12} {'seconds':>9} {'share':>7}"]
        lines += [f"{p:<12} {s:>9.2f} {f:>7.1%}" for p, s, f in self.rows()]
        lines.append(f"{'wall':<12} {self.wall:>9.2f} {1:>7.1%}")
        lines.append(
            f"outside model fitting: {self.overhead:.2f} s = {self.overhead / self.wall:.1%} "
            f"of the wall time; children's logged train_seconds: {self.logged_train_seconds:.2f} s "
            f"over {self.n_runs} run(s)"
        )
        return "\n".join(lines)


def measure_overhead(study_path: Path, threads: int | None = None) -> Breakdown:
    """Run ``study_path`` in a fresh process against a temporary store and time its phases.

    Parameters
    ----------
    study_path : the study YAML (validated here first: a bad file is a UserError, no run)
    threads : ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` for the child, when given

    Returns
    -------
    Breakdown whose phases add up to the wall time measured here (Popen to exit)
    """
    from harness.config.load import load_study  # noqa: PLC0415 (validation only, before the child)

    load_study(study_path)  # refuse a bad study here, with the usual one-line error
    env = {**os.environ}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory(prefix="harness-overhead-") as tmp:
        out = Path(tmp) / "phases.json"
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        env["HARNESS_CACHE_DIR"] = env.get("HARNESS_CACHE_DIR") or str(Path.cwd() / ".cache")
        command = [sys.executable, "-m", "harness.bench.overhead", str(study_path), uri, str(out)]
        command += ["--report-dir", str(Path(tmp) / "reports")]
        start = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        end = time.time()
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"the measured study failed (exit {done.returncode}): {tail[0]}")
        child = json.loads(out.read_text())
    phases = dict(child["phases"])
    phases["startup"] = child["module_start"] - start
    # after the child's last mark: writing the JSON, interpreter exit (threads, atexit hooks)
    phases["exit"] = end - child["end"]
    return Breakdown(
        study=child["study"],
        wall=end - start,
        phases=phases,
        logged_train_seconds=child["logged_train_seconds"],
        n_runs=child["n_runs"],
        notes={"returncode": child["returncode"]},
    )


def _child(study_path: str, uri: str, out: str, report_dir: str) -> int:
    """The measured process: ``harness run STUDY --tracking-uri URI`` with the phases clocked."""
    clock = PhaseClock(root="imports")
    # What `harness run` imports, charged to imports (the CLI's own imports are lighter).
    from harness.config.load import load_study  # noqa: PLC0415 (measured: imports phase)
    from harness.config.study import check_tracking_uri  # noqa: PLC0415 (measured)
    from harness.run.console import print_summary  # noqa: PLC0415 (measured)
    from harness.run.finish import console  # noqa: PLC0415 (measured)
    from harness.run.runner import run_study  # noqa: PLC0415 (measured)

    with clock.phase("config"):
        study = load_study(study_path)
        tracking = study.tracking.model_copy(update={"uri": check_tracking_uri(uri, "uri")})
        report = study.report.model_copy(update={"out_dir": report_dir})
        study = study.model_copy(update={"tracking": tracking, "report": report})
    clock.stack[0] = "other"
    with clocked_harness(clock):
        outcome = run_study(study, show_progress=False)
        with clock.phase("report"):
            print_summary(console, study, outcome)
    phases = clock.close()
    logged = sum(r.compute.get("train_seconds", 0.0) for r in outcome.results)
    Path(out).write_text(
        json.dumps(
            {
                "study": study.name,
                "module_start": _MODULE_START,
                "phases": phases,
                "logged_train_seconds": logged,
                "n_runs": len(outcome.results),
                "returncode": 1 if outcome.failures else 0,
                "end": time.time(),
            }
        )
    )
    return 0


def check_overhead_target(breakdown: Breakdown, max_share: float) -> str | None:
    """None when the time outside fitting is at most ``max_share`` of the wall time, else why."""
    share = breakdown.overhead / breakdown.wall
    if share <= max_share:
        return None
    return f"outside model fitting {share:.1%} of the wall time, above the target {max_share:.0%}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the measured child (``python -m harness.bench.overhead``)."""
    parser = argparse.ArgumentParser(prog="python -m harness.bench.overhead")
    parser.add_argument("study")
    parser.add_argument("uri")
    parser.add_argument("out")
    parser.add_argument("--report-dir", required=True)
    args = parser.parse_args(argv)
    try:
        return _child(args.study, args.uri, args.out, args.report_dir)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
