"""``harness report RUN_ID`` end to end: a tiny study is run and tracked, then its report is rebuilt
from the parent run's ``analysis/`` artifacts alone and must equal the one the run wrote.

The page holds one time stamp, when the analysis was computed (``meta.created``); it travels in
the artifacts, so the rebuilt page is byte for byte the same.
"""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from harness.__main__ import main
from harness.config.load import load_study
from harness.run.runner import run_study

TINY = """
name: tiny_rebuild
seeds: [0, 1]
datasets:
  - adapter: synthetic_motifs
    params: {n: 120, length: 40, max_motifs: 2}
models:
  - name: constant
  - name: attention
    params: {positional: true}
train: {epochs: 2, batch_size: 16, monitor: pearson}
evaluation: {ablation_steps: 3, ablation_max_examples: 20}
"""


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """The tiny study run once for the module, in its own folder and SQLite store."""
    root = tmp_path_factory.mktemp("rebuild")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # the run writes reports/<study>/ here
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        store = f"sqlite:///{root / 'mlflow.db'}"
        (root / "tiny.yaml").write_text(TINY)
        study = load_study(root / "tiny.yaml")
        study = study.model_copy(
            update={"tracking": study.tracking.model_copy(update={"uri": store})}
        )
        yield store, run_study(study, show_progress=False)


def test_rebuilt_report_equals_the_one_the_run_wrote(tracked, tmp_path, capsys):
    store, ran = tracked
    written = ran.report_paths
    assert ran.analysis is not None and not ran.failures
    client = MlflowClient(store)
    parent = {a.path for a in client.list_artifacts(ran.parent_run_id)}
    assert {"analysis", "tables", "report"} <= parent
    logged = {a.path for a in client.list_artifacts(ran.parent_run_id, "analysis")}
    assert "analysis/manifest.json" in logged
    metrics = client.get_run(ran.parent_run_id).data.metrics
    assert "mean.synthetic_motifs.attention.pearson" in metrics

    out = tmp_path / "rebuilt"
    args = ["report", ran.parent_run_id, "--tracking-uri", store, "--out", str(out)]
    assert main(args) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    assert (out / "report.md").read_bytes() == written["markdown"].read_bytes()
    assert (out / "index.html").read_bytes() == written["html"].read_bytes()
    figures = sorted(p.name for p in written["figures"].glob("*.png"))
    assert figures and figures == sorted(p.name for p in (out / "figures").glob("*.png"))
    for name in figures:
        assert (out / "figures" / name).read_bytes() == (written["figures"] / name).read_bytes()
    for key in ("summary", "comparisons"):
        assert (out / f"{key}.csv").read_bytes() == written[key].read_bytes()


def test_a_child_run_or_a_run_without_analysis_is_a_one_line_user_error(tracked, tmp_path, capsys):
    store, ran = tracked
    client = MlflowClient(store)
    child = client.search_runs(
        [ran.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{ran.parent_run_id}'"
    )[0]
    args = ["report", child.info.run_id, "--tracking-uri", store, "--out", str(tmp_path / "x")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a child run" in err[0] and ran.parent_run_id in err[0]
    bare = client.create_run(ran.experiment_id).info.run_id
    assert main(["report", bare, "--tracking-uri", store, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no analysis/ artifacts" in err[0]
    assert main(["report", "0" * 32, "--tracking-uri", store]) == 2
    assert "no MLflow run" in capsys.readouterr().err
