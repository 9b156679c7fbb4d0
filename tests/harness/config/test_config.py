"""Study validation: every mistake is one line naming the key and the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.load import load_study, model_train_config, parse_study
from harness.core.errors import UserError
from harness.core.registry import get_model, load_plugins
from harness.run.runner import models_for

GOOD = {
    "name": "t",
    "seeds": [0],
    "datasets": [{"adapter": "synthetic_motifs", "params": {"n": 100, "length": 40}}],
    "models": [{"name": "attention"}, {"name": "gb_cnn"}],
    "train": {"epochs": 1},
}


def bad(**changes) -> str:
    data = {**GOOD, **changes}
    with pytest.raises(UserError) as info:
        parse_study(data, "s.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_study_parses_with_defaults():
    study = parse_study(GOOD)
    assert study.train.epochs == 1
    assert study.train.batch_size == 32
    assert study.reference == "attention"


def test_unknown_top_level_key_is_named_with_suggestion():
    msg = bad(seed=[1])
    assert "seed: unknown parameter; did you mean 'seeds'?" in msg


def test_unknown_adapter_param_has_path_and_suggestion():
    msg = bad(datasets=[{"adapter": "synthetic_motifs", "params": {"nosie_sd": 0.1}}])
    assert "datasets[0].params.nosie_sd: unknown parameter; did you mean 'noise_sd'?" in msg


def test_unknown_model_param_has_path_and_suggestion():
    msg = bad(models=[{"name": "gb_cnn"}, {"name": "sparse_attention", "params": {"sparsty": 0.1}}])
    assert "models[1].params.sparsty: unknown parameter; did you mean 'sparsity'?" in msg


def test_sparsity_out_of_range():
    msg = bad(models=[{"name": "sparse_attention", "params": {"sparsity": 1.5}}])
    assert msg.startswith("s.yaml: models[0].params.sparsity:")


def test_unknown_model_and_adapter_names_list_choices():
    msg = bad(models=[{"name": "atention"}])
    assert "unknown model 'atention'; did you mean 'attention'?" in msg
    assert "gb_cnn" in msg
    msg = bad(datasets=[{"adapter": "synthetic"}])
    assert "unknown adapter 'synthetic'" in msg and "synthetic_motifs" in msg


def test_negative_epochs_and_wrong_types():
    assert "train.epochs" in bad(train={"epochs": -3})
    assert "seeds[0]" in bad(seeds=["a"])
    assert "models[0].train.lr" in bad(models=[{"name": "attention", "train": {"lr": -1}}])


def test_duplicate_labels_rejected():
    assert "appears twice" in bad(models=[{"name": "attention"}, {"name": "attention"}])


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nseeds: [0, 1\nmodels: []\n")
    with pytest.raises(UserError, match=r"broken\.yaml:\d+: malformed YAML"):
        load_study(path)


def test_missing_file():
    with pytest.raises(UserError, match="no such study file"):
        load_study("does/not/exist.yaml")


def test_shipped_studies_validate():
    paths = sorted(Path(__file__).resolve().parents[3].glob("studies/*.yaml"))
    assert len(paths) >= 5, "the studies folder was not found"
    for path in paths:
        study = load_study(path)  # raises UserError (one line) on any problem
        assert study.name and study.models and study.datasets, path


def test_dataset_model_subset_must_name_study_models():
    msg = bad(datasets=[{"adapter": "synthetic_motifs", "models": ["gb_cnm"]}])
    assert "datasets[0].models: 'gb_cnm' is not a model label" in msg
    assert "did you mean 'gb_cnn'?" in msg
    study = parse_study(
        {**GOOD, "datasets": [{"adapter": "synthetic_motifs", "models": ["gb_cnn"]}]}
    )
    assert [m.key for m in models_for(study, study.datasets[0])] == ["gb_cnn"]


def test_model_train_defaults_sit_below_what_the_study_writes(monkeypatch):
    """A model's ``train_defaults`` fill only the train keys the study leaves unset."""
    load_plugins()
    factory = get_model("gb_cnn").factory
    monkeypatch.setattr(factory, "train_defaults", {"schedule": "warmup_cosine", "lr": 0.05})
    data = {
        "name": "defaults",
        "datasets": [{"adapter": "synthetic_motifs"}],
        "models": [{"name": "gb_cnn"}, {"name": "gb_cnn", "label": "own", "train": {"lr": 0.1}}],
        "train": {"lr": 0.002},
    }
    study = parse_study(data)
    first, own = (model_train_config(study, m) for m in study.models)
    assert first.schedule == "warmup_cosine" and first.lr == 0.002  # study's lr wins
    assert own.lr == 0.1 and own.schedule == "warmup_cosine"  # the model's own override wins
    again = parse_study(study.model_dump(mode="json"))  # a worker's re-parsed copy
    assert model_train_config(again, again.models[0]) == first
