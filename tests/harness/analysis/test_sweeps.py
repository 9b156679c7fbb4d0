"""The sweep grouping rule: datasets of one adapter that differ in exactly one numeric param, and
the results rows of a sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.headline import RESULT_COLUMNS
from harness.analysis.sweeps import Sweep, dataset_specs, find_sweeps, sweep_rows
from harness.config.study import StudyConfig


def _spec(adapter: str = "long_range_motifs", **params) -> dict:
    return {"adapter": adapter, "params": params}


def test_datasets_differing_only_in_length_form_one_sweep_ordered_by_value():
    specs = {
        "lr16k": _spec(n=4000, length=16384, flip=0.05),
        "lr1k": _spec(n=4000, length=1024, flip=0.05),
        "lr4k": _spec(n=4000, length=4096, flip=0.05),
    }
    assert find_sweeps(specs) == [
        Sweep(
            adapter="long_range_motifs",
            param="length",
            datasets=("lr1k", "lr4k", "lr16k"),
            values=(1024, 4096, 16384),
            fixed={"n": 4000, "flip": 0.05},
        )
    ]
    assert find_sweeps(specs)[0].axis_label == "sequence length (bases)"


def test_values_spanning_4x_get_a_log_axis():
    def sweep(*values):
        return Sweep("a", "length", tuple(map(str, values)), values, {})

    assert sweep(1024, 4096).log_scale and sweep(1, 2, 4).log_scale
    assert not sweep(100, 300).log_scale and not sweep(0, 10).log_scale


def test_any_numeric_param_can_be_swept_and_is_labelled_by_its_name():
    specs = {
        "a": _spec("synthetic_motifs", noise_sd=0.1),
        "b": _spec("synthetic_motifs", noise_sd=0.5),
    }
    (sweep,) = find_sweeps(specs)
    assert sweep.param == "noise_sd" and sweep.axis_label == "noise_sd"


def test_no_sweep_when_two_params_vary_or_adapters_differ_or_one_dataset():
    assert find_sweeps({"a": _spec(n=100, length=64), "b": _spec(n=200, length=128)}) == []
    assert find_sweeps({"a": _spec("x", length=64), "b": _spec("y", length=128)}) == []
    assert find_sweeps({"a": _spec(length=64)}) == []
    assert find_sweeps({}) == []


def test_no_sweep_over_a_param_that_only_some_datasets_give():
    # the other dataset's value is the adapter's default, which the study does not say
    assert find_sweeps({"a": _spec(length=64), "b": _spec()}) == []


def test_no_sweep_over_strings_booleans_or_identical_specs():
    assert find_sweeps({"a": _spec(path="x.csv"), "b": _spec(path="y.csv")}) == []
    assert find_sweeps({"a": _spec(rc=True), "b": _spec(rc=False)}) == []
    # two datasets with the same value: which one a point stands for would be ambiguous
    specs = {"a": _spec(length=64), "b": _spec(length=64), "c": _spec(length=128)}
    assert find_sweeps(specs) == []


def test_non_numeric_params_must_match_too():
    specs = {
        "a": _spec(length=64, motif="TATA"),
        "b": _spec(length=128, motif="TATA"),
        "c": _spec(length=256, motif="GATA"),
    }
    (sweep,) = find_sweeps(specs)
    assert sweep.datasets == ("a", "b") and sweep.fixed == {"motif": "TATA"}


def test_a_grid_gives_a_sweep_over_each_param_at_each_value_of_the_other():
    specs = {
        f"l{length}_n{n}": _spec(length=length, n=n) for n in (100, 200) for length in (64, 128)
    }
    found = {(s.param, s.datasets) for s in find_sweeps(specs)}
    assert found == {
        ("length", ("l64_n100", "l128_n100")),
        ("length", ("l64_n200", "l128_n200")),
        ("n", ("l64_n100", "l64_n200")),
        ("n", ("l128_n100", "l128_n200")),
    }


def test_dataset_specs_are_what_the_study_gave_as_plain_json():
    study = StudyConfig.model_validate(
        {
            "name": "lr",
            "datasets": [
                {"adapter": "long_range_motifs", "label": "lr1k", "params": {"length": 1024}},
                {"adapter": "synthetic_motifs", "params": {"motifs": ("TATA",)}},
            ],
            "models": [{"name": "attention"}],
        }
    )
    assert dataset_specs(study) == {
        "lr1k": _spec(length=1024),
        "synthetic_motifs": _spec("synthetic_motifs", motifs=["TATA"]),
    }
    assert dataset_specs(None) == {}


def test_sweep_rows_select_the_metric_and_attach_the_value():
    sweep = Sweep("lrm", "length", ("lr1k", "lr4k"), (1024, 4096), {})
    rows = [
        ("lr4k", "binary", "m", "model", "auroc", 0.7, 0.6, 0.8, 3.0),
        ("lr4k", "binary", "m", "model", "accuracy", 0.6, 0.5, 0.7, 3.0),
        ("lr1k", "binary", "m", "model", "auroc", 0.9, 0.85, 0.95, 3.0),
        ("other", "binary", "m", "model", "auroc", 0.5, 0.4, 0.6, 3.0),
    ]
    got = sweep_rows(pd.DataFrame(rows, columns=RESULT_COLUMNS), sweep, "auroc")
    assert got["dataset"].tolist() == ["lr1k", "lr4k"]
    np.testing.assert_array_equal(got["value"], [1024.0, 4096.0])
    assert got["mean"].tolist() == [0.9, 0.7]
    assert sweep_rows(pd.DataFrame(), sweep, "auroc").empty
