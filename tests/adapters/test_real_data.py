"""The real files under ../shared/data, loaded as the studies load them.

``shared_data`` (tests/conftest.py) fails when the data is missing in CI (CI=true) and skips
elsewhere.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

import adapters  # noqa: F401  (registers the adapters)
from harness.config.load import validate_params
from harness.core.registry import ADAPTERS

REPO = Path(__file__).resolve().parents[2]
STUDIES = ("epd_promoters", "gue_prom_core_notata", "gue_prom_300_tata", "human_or_worm")


def study_dataset(name: str) -> dict:
    return yaml.safe_load((REPO / "studies" / f"{name}.yaml").read_text())["datasets"][0]


def load_study_dataset(name: str, monkeypatch, **override):
    """The study's dataset, loaded from the repository root as the CLI would."""
    spec = study_dataset(name)
    entry = ADAPTERS[spec["adapter"]]
    params = validate_params(entry.params, {**spec["params"], **override}, ("params",))
    monkeypatch.chdir(REPO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # leakage warnings: counted in meta, checked below
        return entry.factory(params, 0)


@pytest.mark.parametrize("name", STUDIES)
def test_study_dataset_params_validate(name):
    spec = study_dataset(name)
    params = validate_params(ADAPTERS[spec["adapter"]].params, spec["params"], ("params",))
    assert isinstance(params, ADAPTERS[spec["adapter"]].params)


def test_epd_gena_lm_folds(shared_data, monkeypatch):
    ds = load_study_dataset("epd_promoters", monkeypatch, max_train=None, max_val=None)
    assert {k: len(v) for k, v in ds.split.items()} == {
        "train": 11_840 + 11_839 + 11_839,
        "val": 11_839,
        "test": 11_839,
    }
    assert ds.length == 300 and ds.task == "binary"
    assert (ds.annotations["tss_index"] == 249).all()
    assert np.bincount(ds.labels).tolist() == [29_598, 29_598]
    assert ds.meta["n_ambiguous_to_N"] == 0 and ds.meta["leakage"]["train_test_exact"] > 0
    capped = load_study_dataset("epd_promoters", monkeypatch)
    caps = study_dataset("epd_promoters")["params"]
    assert len(capped.split["train"]) == caps["max_train"]
    assert len(capped.split["val"]) == caps["max_val"]
    assert len(capped.split["test"]) == 11_839


def test_gue_prom_core_notata(shared_data, monkeypatch):
    ds = load_study_dataset("gue_prom_core_notata", monkeypatch, max_train=None, max_val=None)
    assert {k: len(v) for k, v in ds.split.items()} == {
        "train": 42_452,
        "val": 5_307,
        "test": 5_307,
    }
    assert ds.length == 70
    assert ds.meta["leakage"]["val_test_exact"] == 3  # the 3 exact dev/test overlaps (README)


def test_gue_prom_300_tata(shared_data, monkeypatch):
    ds = load_study_dataset("gue_prom_300_tata", monkeypatch)
    assert {k: len(v) for k, v in ds.split.items()} == {"train": 4_904, "val": 613, "test": 613}
    assert ds.length == 300 and (ds.annotations["tss_index"] == 249).all()


def test_cnnprom_fasta_tss_parsed(shared_data, load_adapter):
    folder = shared_data / "epd_cnnprom_umarov"
    ds = load_adapter(
        "fasta",
        positives=str(folder / "Arabidopsis_tata.fa.gz"),
        negatives=str(folder / "Arabidopsis_non_prom.fa.gz"),
    )
    assert np.bincount(ds.labels).tolist() == [2_879, 1_497] and ds.length == 251
    tss = ds.annotations["tss_index"]
    assert (tss[ds.labels == 1] == 200).all() and (tss[ds.labels == 0] == -1).all()
