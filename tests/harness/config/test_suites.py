"""Benchmark suites: ``suite: <name>`` expands into the study's datasets before validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import suites
from harness.config.load import load_suite, parse_study
from harness.config.suites import SUITES_DIR, suite_names
from harness.core.errors import UserError
from tests.refusals import assert_refused

BASE = {"name": "t", "seeds": [0], "models": [{"name": "constant"}]}
GUE = ["gue_prom_300_tata", "gue_prom_core_all", "gue_prom_core_notata", "gue_prom_core_tata"]


def refused(data: dict) -> str:
    with pytest.raises(UserError) as info:
        parse_study(data, "s.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_shipped_suites_are_found_and_each_parses_into_a_study():
    assert {"gue_promoters", "genomic_benchmarks", "epd"} <= set(suite_names())
    for name in suite_names():
        suite = load_suite(name)
        study = parse_study({**BASE, "suite": name}, f"{name}.yaml")
        assert study.suite is not None and study.suite.name == name
        assert [d.key for d in study.datasets] == [d.key for d in suite.datasets]


def test_suite_expands_into_datasets_with_shared_overrides_and_the_study_own_after():
    own = {"adapter": "synthetic_motifs", "label": "toy", "params": {"n": 100, "length": 40}}
    study = parse_study(
        {
            **BASE,
            "suite": {"name": "gue_promoters", "params": {"max_train": 500}},
            "datasets": [own],
        }
    )
    assert [d.key for d in study.datasets] == [*GUE, "toy"]
    assert all(d.params["max_train"] == 500 for d in study.datasets[:4])
    assert "max_train" not in study.datasets[4].params  # overrides touch the suite's only
    assert study.datasets[0].params["tss_index"] == 249  # the suite's own params kept
    assert study.suite.params == {"max_train": 500}


def test_a_resolved_suite_study_parses_to_itself():
    """Worker processes and tuning confirmations re-parse the dumped study: no duplicates."""
    study = parse_study({**BASE, "suite": "gue_promoters"})
    again = parse_study(study.model_dump(mode="json"))
    assert again.datasets == study.datasets and again.suite == study.suite


def test_unknown_suite_is_one_line_naming_the_key_and_the_valid_suites():
    msg = refused({**BASE, "suite": "gue_promotors"})
    assert msg.startswith("s.yaml: suite: unknown suite 'gue_promotors'")
    assert "did you mean 'gue_promoters'?" in msg
    assert f"(valid: {', '.join(suite_names())})" in msg


def test_a_suite_name_never_escapes_the_suites_folder():
    msg = refused({**BASE, "suite": "../quickstart"})
    assert "unknown suite '../quickstart'" in msg


def test_bad_suite_entries_are_one_line_errors():
    assert "s.yaml: suite.name: required key is missing" in refused({**BASE, "suite": {"nme": "x"}})
    assert "suite.nme: unknown parameter" in refused({**BASE, "suite": {"name": "epd", "nme": 1}})
    msg = refused({**BASE, "suite": {"name": "gue_promoters", "params": {"max_trian": 5}}})
    assert "datasets[0].params.max_trian: unknown parameter; did you mean 'max_train'?" in msg


def test_a_duplicate_label_between_suite_and_study_is_refused():
    clash = {"adapter": "synthetic_motifs", "label": "gue_prom_core_tata"}
    msg = refused({**BASE, "suite": "gue_promoters", "datasets": [clash]})
    assert "datasets: 'gue_prom_core_tata' appears twice" in msg


def test_adding_a_suite_is_adding_a_file(tmp_path: Path, monkeypatch):
    (tmp_path / "tiny.yaml").write_text(
        "description: two toy tasks\n"
        "datasets:\n"
        "  - {adapter: synthetic_motifs, label: a, params: {n: 100, length: 40}}\n"
        "  - {adapter: synthetic_motifs, label: b, params: {n: 100, length: 60}}\n",
        encoding="utf-8",
    )
    (tmp_path / "broken.yaml").write_text("datasets: []\n", encoding="utf-8")
    monkeypatch.setattr(suites, "SUITES_DIR", tmp_path)
    assert suite_names() == ["broken", "tiny"]
    study = parse_study({**BASE, "suite": "tiny"})
    assert [d.key for d in study.datasets] == ["a", "b"]
    msg = refused({**BASE, "suite": "broken"})
    assert "broken.yaml: datasets:" in msg  # the suite file and its key


def test_suites_folder_is_the_checkout_studies_suites():
    assert Path(__file__).resolve().parents[3] / "studies" / "suites" == SUITES_DIR


def test_cli_refuses_an_unknown_suite_with_exit_2_and_one_line(tmp_path: Path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text(
        "name: s\nsuite: gue_promotors\nmodels: [{name: constant}]\n", encoding="utf-8"
    )
    assert_refused(
        ["validate", str(study)], capsys, tmp_path, match=r"suite: unknown suite 'gue_promotors'"
    )
