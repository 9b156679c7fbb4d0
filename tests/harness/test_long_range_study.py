"""``studies/long_range.yaml`` end to end at tiny lengths: every model of the study runs on every
dataset it lists, and the report plots the metric against length (the sweep section)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from harness.__main__ import main

STUDY = Path(__file__).resolve().parents[2] / "studies" / "long_range.yaml"
TINY_LENGTHS = (128, 256, 512)  # the study's 1k / 4k / 16k, in the same order


def test_the_long_range_study_runs_at_tiny_lengths(tmp_path: Path, store: str) -> None:
    study = yaml.safe_load(STUDY.read_text())
    assert len(study["datasets"]) == len(TINY_LENGTHS)
    for dataset, length in zip(study["datasets"], TINY_LENGTHS, strict=True):
        dataset["params"].update(n=120, length=length)
    study.update(seeds=[0], report={"out_dir": str(tmp_path / "reports")})
    study["train"].update(epochs=1)
    study["evaluation"].update(importance_max_examples=8)
    path = tmp_path / "long_range_tiny.yaml"
    path.write_text(yaml.safe_dump(study))

    assert main(["run", str(path), "--tracking-uri", store, "--no-progress"]) == 0

    report = tmp_path / "reports" / study["name"]
    summary = pd.read_csv(report / "summary.csv")
    for dataset in study["datasets"]:
        expected = dataset.get("models") or [m.get("label") or m["name"] for m in study["models"]]
        ran = set(summary.loc[summary["dataset"] == dataset["label"], "model"])
        assert set(expected) <= ran, (dataset["label"], set(expected) - ran)
    assert "Metric vs dataset parameter" in (report / "report.md").read_text()
    assert list((report / "figures").glob("sweep_length_*.png"))
