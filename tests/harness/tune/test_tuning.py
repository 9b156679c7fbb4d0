"""``harness tune`` end to end on a tiny study: Optuna storage, MLflow runs, resume, workers,
pruning, dead-worker retries, the best study YAML and every bad-input message."""

from __future__ import annotations

import datetime
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

import harness.train.unit
from harness.__main__ import main
from harness.config.load import load_study, parse_study
from harness.config.tune import apply_overrides, validate_tune
from harness.core.errors import UserError
from harness.run.tracking import Tracker
from harness.train.fit import FitResult
from harness.train.unit import load_dataset
from harness.tune.main import run_tune
from harness.tune.objective import report_epoch
from harness.tune.parent import parent_run
from harness.tune.storage import lock_path, make_pruner, open_storage, open_study
from harness.tune.worker import Worker, search

TINY = {
    "name": "tiny_tune",
    "seeds": [0, 1],
    "datasets": [
        {
            "adapter": "synthetic_motifs",
            "params": {"n": 120, "length": 40, "max_motifs": 2, "target": "binary"},
        }
    ],
    "models": [{"name": "attngen", "params": {"embed_dim": 8, "channels": [4, 4, 2], "hidden": 8}}],
    "train": {"epochs": 2, "batch_size": 32, "monitor": "auroc", "threads": 1},
    "evaluation": {"ablation_steps": 0, "importance_max_examples": 0, "save_models": False},
    "report": {"enabled": False},
    "tune": {
        "objective": {"metric": "val_auroc", "direction": "maximize"},
        "space": {
            "mask_ratio": {"float": [0.0, 0.75]},
            "kl_weight": {"float": [0.001, 1.0], "log": True},
        },
        "n_trials": 3,
        "confirm": False,
    },
}


@pytest.fixture(scope="module")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its schema created once (migrations take seconds)."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(store: str, tmp_path: Path, mlflow_template: Path) -> str:
    """The conftest store (cwd = tmp_path), started from the migrated template."""
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    return store


def study_with(store: str, **tune) -> dict:
    data = yaml.safe_load(yaml.safe_dump(TINY))  # deep copy
    data["tracking"] = {"uri": store}
    data["tune"].update(tune)
    return data


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tune_runs(store: str, kind: str) -> list:
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("tiny_tune")
    return client.search_runs([exp.experiment_id], filter_string=f"tags.kind = '{kind}'")


def stored_trials(name: str = "tiny_tune", storage: str = "optuna/tiny_tune.journal") -> list:
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    return study.get_trials(deepcopy=False)


@pytest.fixture
def fake_fit(monkeypatch):
    """Replace training by fixed validation curves chosen by ``mask_ratio`` (no torch work).

    0.1 -> a good curve, 0.5 -> a clearly worse one, 0.3 -> NaN, 0.7 -> an exception, any
    other value -> a middling curve.
    """
    curves = {0.1: [0.8, 0.9, 0.95], 0.5: [0.5, 0.5, 0.5], 0.3: [float("nan")] * 3}

    def fit(model, train, val, cfg, seed, on_epoch=None, progress=None, memo=None):
        ratio = round(model.params.mask_ratio, 3)
        if ratio == 0.7:
            raise RuntimeError("boom")
        result = FitResult(best_epoch=3, epochs_run=3)
        for epoch, value in enumerate(curves.get(ratio, [0.6, 0.7, 0.8]), start=1):
            result.curves.setdefault("val_auroc", []).append(value)
            on_epoch(epoch, {"val_auroc": value, "val_loss": 0.5})
        return result

    monkeypatch.setattr(harness.train.unit, "fit", fit)


def enqueue(data: dict, ratios: list[float], kl_weight: float = 0.1) -> None:
    """Create the tuning study in its default journal and queue trials with fixed params."""
    plan = validate_tune(parse_study(data))
    study = optuna.create_study(
        study_name=plan.study.name, storage=open_storage(plan.storage), direction="maximize"
    )
    for ratio in ratios:
        study.enqueue_trial({"mask_ratio": ratio, "kl_weight": kl_weight})


# ------------------------------------------------------------------------- end to end
def test_three_trials_then_resume_to_five_with_confirm_and_best_yaml(store, tmp_path, capsys):
    data = study_with(store)
    outcome = run_tune(parse_study(data), show_progress=False)
    assert (outcome.n_trials, outcome.n_complete) == (3, 3)
    assert len(stored_trials()) == 3
    parents = tune_runs(store, "tune")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    kids = tune_runs(store, "trial")
    assert len(kids) == 3
    assert {k.data.tags["mlflow.parentRunId"] for k in kids} == {parent}
    assert {k.data.tags["state"] for k in kids} == {"COMPLETE"}
    assert {k.info.status for k in kids} == {"FINISHED"}
    client = MlflowClient(store)
    history = client.get_metric_history(kids[0].info.run_id, "val_auroc")
    assert [m.step for m in history] == [1, 2]
    assert "tuned.mask_ratio" in kids[0].data.params
    names = {a.path for a in client.list_artifacts(parent, "plots")}
    assert "plots/optimization_history.png" in names

    # resume through the CLI: same Optuna study and parent run, exactly 5 trials, then confirm
    path = write(tmp_path / "study.yaml", study_with(store, n_trials=5, confirm=True))
    assert main(["tune", str(path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "5 trials" in printed and "paired t p=" in printed
    trials = stored_trials()
    assert len(trials) == 5 and sorted(t.number for t in trials) == [0, 1, 2, 3, 4]
    assert [p.info.run_id for p in tune_runs(store, "tune")] == [parent]
    assert len(tune_runs(store, "trial")) == 5
    confirm = tune_runs(store, "study")
    assert len(confirm) == 1 and confirm[0].data.tags["mlflow.parentRunId"] == parent
    confirm_kids = client.search_runs(
        [confirm[0].info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{confirm[0].info.run_id}'",
    )
    assert {r.data.tags["model"] for r in confirm_kids} == {"attngen_tuned", "attngen_default"}
    assert len(confirm_kids) == 4  # 2 models x 2 seeds
    assert "confirm.t_p" in client.get_run(parent).data.metrics

    # a finished search run again: no new trial, the stored confirmation is reused
    assert main(["tune", str(path), "--no-progress"]) == 0
    assert "paired t p=" in capsys.readouterr().out
    assert len(stored_trials()) == 5 and len(tune_runs(store, "study")) == 1

    # the best study: valid, best values merged, no tune section, and it runs
    best = load_study("optuna/tiny_tune.best.yaml")
    assert best.tune is None
    best_trial = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert best.models[0].params["mask_ratio"] == pytest.approx(best_trial.params["mask_ratio"])
    assert best.models[0].params["embed_dim"] == 8
    one_seed = {**yaml.safe_load(Path("optuna/tiny_tune.best.yaml").read_text()), "seeds": [0]}
    assert main(["run", str(write(tmp_path / "best.yaml", one_seed)), "--no-progress"]) == 0


def test_two_worker_processes_share_the_journal_and_stop_at_the_exact_count(store):
    data = study_with(store, n_trials=3, workers=2, sampler="random")
    outcome = run_tune(parse_study(data), show_progress=False)
    assert outcome.worker_errors == []
    trials = stored_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(r.data.tags["trial"] for r in tune_runs(store, "trial")) == ["0", "1", "2"]


def test_concurrent_workers_never_overshoot_n_trials(store, fake_fit, monkeypatch):
    """Two workers with their own storage handles on one journal, trials overlapping in time
    (threads here: the claim lock is a file, so processes behave the same)."""
    slow_fit = harness.train.unit.fit

    def fit(*args, **kwargs):
        time.sleep(0.2)  # keep a trial running while the other worker claims
        return slow_fit(*args, **kwargs)

    ask = optuna.Study.ask

    def slow_ask(self, *args, **kwargs):
        time.sleep(0.05)  # widen the window between counting trials and creating one
        return ask(self, *args, **kwargs)

    monkeypatch.setattr(harness.train.unit, "fit", fit)
    monkeypatch.setattr(optuna.Study, "ask", slow_ask)
    plan = validate_tune(parse_study(study_with(store, n_trials=5, sampler="random")))
    dataset = load_dataset(plan.dataset, plan.seed)
    tracker = Tracker(store, plan.experiment)
    first = open_study(plan, open_storage(plan.storage))
    parent = parent_run(plan, first, tracker)
    workers = []
    for _ in range(2):
        storage = open_storage(plan.storage)
        study = open_study(plan, storage)
        workers.append(Worker(plan, storage, study, tracker, parent, dataset, lock_path(plan)))
    with ThreadPoolExecutor(2) as pool:
        ran = list(pool.map(lambda w: search(w, plan.tune.n_trials, None), workers))
    assert sum(ran) == 5 and min(ran) >= 1
    trials = stored_trials()
    assert sorted(t.number for t in trials) == list(range(5))
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_pruned_nan_and_raising_trials_are_recorded_and_the_study_goes_on(store, fake_fit):
    data = study_with(
        store, n_trials=5, pruner={"name": "median", "startup_trials": 2, "warmup_epochs": 0}
    )
    enqueue(data, [0.1, 0.1, 0.5, 0.3, 0.7])
    outcome = run_tune(parse_study(data), show_progress=False)
    assert (outcome.n_complete, outcome.n_pruned, outcome.n_fail) == (2, 1, 2)
    states = {t.params["mask_ratio"]: t for t in stored_trials()}
    assert states[0.5].state == TrialState.PRUNED
    assert states[0.3].state == TrialState.FAIL
    assert "val_auroc is nan" in states[0.3].user_attrs["error"]
    assert states[0.7].user_attrs["error"] == "RuntimeError: boom"
    runs = {r.data.tags["trial"]: r for r in tune_runs(store, "trial")}
    assert runs["2"].data.tags["state"] == "PRUNED" and runs["2"].info.status == "KILLED"
    assert runs["3"].data.tags["state"] == "FAIL" and runs["3"].info.status == "FAILED"
    assert runs["4"].data.tags["error"] == "RuntimeError: boom"
    assert runs["0"].info.status == "FINISHED"


def test_pruning_hook_prunes_a_worse_curve_only(store):
    plan = validate_tune(
        parse_study(study_with(store, pruner={"name": "median", "startup_trials": 2}))
    )
    study = optuna.create_study(direction=plan.direction, pruner=make_pruner(plan))
    for _ in range(2):
        trial = study.ask()
        for epoch in (1, 2, 3):
            report_epoch(trial, "val_auroc", epoch, {"val_auroc": 0.9})
        study.tell(trial, 0.9)
    good, bad = study.ask(), study.ask()
    # warmup_epochs=1 (default): epoch 1 is never pruned, however bad
    report_epoch(bad, "val_auroc", 1, {"val_auroc": 0.5})
    with pytest.raises(optuna.TrialPruned, match="epoch 2"):
        report_epoch(bad, "val_auroc", 2, {"val_auroc": 0.5})
    for epoch in (1, 2):
        report_epoch(good, "val_auroc", epoch, {"val_auroc": 0.95})


def test_a_trial_of_a_dead_worker_is_failed_and_retried_not_lost(store, fake_fit):
    data = study_with(store, n_trials=2)
    enqueue(data, [])
    study = optuna.load_study(
        study_name="tiny_tune", storage=open_storage("optuna/tiny_tune.journal")
    )
    long_ago = datetime.datetime.now() - datetime.timedelta(hours=1)
    study.add_trial(
        FrozenTrial(
            number=0,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=long_ago,
            datetime_complete=None,
            params={"mask_ratio": 0.1, "kl_weight": 0.1},
            distributions={
                "mask_ratio": FloatDistribution(0.0, 0.75),
                "kl_weight": FloatDistribution(0.001, 1.0, log=True),
            },
            user_attrs={"heartbeat": long_ago.timestamp()},
            system_attrs={},
            intermediate_values={},
            trial_id=0,
        )
    )
    outcome = run_tune(parse_study(data), show_progress=False)
    trials = stored_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert "heartbeats" in trials[0].user_attrs["error"]
    assert trials[1].params == trials[0].params
    assert trials[1].system_attrs["failed_trial"] == 0
    assert (outcome.n_trials, outcome.n_complete, outcome.n_fail) == (2, 2, 0)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"space": {"mask_ration": {"float": [0.0, 0.5]}}},
            "tune.space.mask_ration: unknown parameter; did you mean 'mask_ratio'?",
        ),
        (
            {"space": {"mask_ratio": {"float": [0.5, 0.1]}}},
            "tune.space.mask_ratio.float: empty range [0.5, 0.1]; low must be below high",
        ),
        (
            {"space": {"masking": {"categorical": []}}},
            "tune.space.masking.categorical: empty or not a list",
        ),
        (
            {"space": {"mask_ratio": {"float": [0.0, 1.0]}}},
            "tune.space.mask_ratio: value 1.0 is not allowed: Input should be less than 1",
        ),
        (
            {"space": {"batch_size": {"float": [8, 64]}}},
            "tune.space.batch_size: batch_size is an integer parameter",
        ),
        (
            {"objective": {"metric": "test_auroc"}},
            "tune.objective.metric: 'test_auroc' is a test-split metric; the search may only "
            "select on validation (use 'val_auroc'",
        ),
        ({"objective": "train_loss"}, "tune.objective.metric: 'train_loss' is not a validation"),
        ({"n_trails": 3}, "tune.n_trails: unknown parameter; did you mean 'n_trials'?"),
        ({"model": "atngen"}, "tune.model: 'atngen' is neither a model label of the study"),
    ],
)
def test_bad_tune_sections_are_one_line_user_errors(store, tmp_path, change, message):
    data = study_with(store)
    if "space" in change:
        data["tune"]["space"] = {}
    data["tune"].update(change)
    path = write(tmp_path / "bad.yaml", data)
    with pytest.raises(UserError) as err:
        load_study(path)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_objective_must_exist_for_the_task(store):
    data = study_with(store, objective={"metric": "val_pearson"})
    with pytest.raises(UserError, match=r"'val_pearson' is not a binary validation metric"):
        run_tune(parse_study(data), show_progress=False)


def test_unreachable_storage_is_a_one_line_cli_error(store, tmp_path, capsys):
    path = write(tmp_path / "study.yaml", study_with(store))
    bad = f"sqlite:///{tmp_path}/missing/dir/optuna.db"
    assert main(["tune", str(path), "--storage", bad, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: tune.storage: cannot open 'sqlite:///") and "\n" not in err
    with pytest.raises(UserError, match=r"tune\.storage: cannot open 'nosuchdb://"):
        run_tune(
            apply_overrides(parse_study(study_with(store)), storage="nosuchdb://x"),
            show_progress=False,
        )


def test_n_trials_or_timeout_is_required(store):
    data = study_with(store, n_trials=None)
    with pytest.raises(UserError, match="set n_trials or timeout"):
        run_tune(parse_study(data), show_progress=False)
