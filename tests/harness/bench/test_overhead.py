"""``harness bench --overhead``: a study's wall time split into fitting and the rest."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.bench.overhead import FITTING, PHASES, PhaseClock, measure_overhead
from tests.refusals import assert_refused

TINY = {
    "name": "tiny_overhead",
    "seeds": [0],
    "datasets": [
        {"adapter": "synthetic_motifs", "params": {"n": 120, "length": 30, "target": "regression"}}
    ],
    "models": [{"name": "gb_cnn"}],
    "train": {"epochs": 2, "threads": 1, "monitor": "pearson"},
    "evaluation": {"ablation_steps": 3, "ablation_max_examples": 30, "importance_max_examples": 30},
}


def test_clock_charges_nested_phases_exclusively():
    start = time.perf_counter()
    clock = PhaseClock(root="other")
    work = clock.wrap("fitting", lambda: sum(range(20_000)))
    with clock.phase("data"):
        sum(range(10_000))
        with clock.phase("validation"):
            work()  # a phase inside a phase inside a phase
    totals = clock.close()
    elapsed = time.perf_counter() - start
    assert set(totals) == {"other", "data", "validation", "fitting"}
    assert all(v >= 0 for v in totals.values())
    # exclusive: nothing counted twice, nothing lost
    assert sum(totals.values()) == pytest.approx(elapsed, abs=2e-3)
    assert clock.stack == ["other"]


def test_other_threads_are_not_charged():
    clock = PhaseClock()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(clock.wrap("mlflow", lambda: 1)()))
    thread.start()
    thread.join()
    assert seen == [1] and "mlflow" not in clock.close()


def test_breakdown_adds_up_to_the_wall_time(tmp_path, monkeypatch):
    study = tmp_path / "tiny.yaml"
    study.write_text(yaml.safe_dump(TINY))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    breakdown = measure_overhead(study)
    phases = breakdown.phases
    assert set(phases) <= set(PHASES)
    assert all(v >= 0 for v in phases.values()), phases
    assert sum(phases.values()) == pytest.approx(breakdown.wall, rel=0.02, abs=0.25)
    for needed in ("imports", "data", "fitting", "validation", "evaluation", "mlflow", "report"):
        assert phases[needed] > 0, needed
    assert breakdown.n_runs == 1 and breakdown.logged_train_seconds > 0
    # the children's own train_seconds cover fitting and its validation passes
    fit = sum(phases[p] for p in FITTING)
    assert fit <= breakdown.logged_train_seconds + 0.05
    assert breakdown.overhead == pytest.approx(breakdown.wall - fit)
    saved = breakdown.to_json()
    assert json.loads(json.dumps(saved))["phases"] == pytest.approx(phases)
    assert not list(Path.cwd().glob("mlruns/**/tiny_overhead*"))  # a temporary store only


def test_refusals(tmp_path, capsys):
    assert_refused(["bench"], capsys, tmp_path, match=r"give model names.*--overhead")
    missing = tmp_path / "none.yaml"
    assert_refused(["bench", "--overhead", str(missing)], capsys, tmp_path, match="not a study")
    assert_refused(
        ["bench", "attention", "--gb-cache"], capsys, tmp_path, match="separate benchmarks"
    )
    assert_refused(["bench", "--gb-cache", "--files", "3"], capsys, tmp_path, match="--files")


def test_cli_module_imports_no_heavy_library():
    """``harness --help`` starts fast because the CLI module imports none of these."""
    code = (
        "import sys, harness.__main__; "
        "print(sorted(m for m in ('torch', 'mlflow', 'pydantic', 'pandas', 'rich') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
