"""The training unit shared by ``harness run`` and ``harness tune``: same data, same model, same
weights as building and fitting by hand, and the setup recorded before training starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import harness.train.fit as fit_module
from harness.config.load import model_train_config, parse_study
from harness.config.study import TrainConfig
from harness.core.errors import UserError
from harness.core.model import FittedModel, SequenceModel, predict
from harness.train.fit import TrainedMemo, fit, set_seed
from harness.train.unit import build_model, fit_unit, load_dataset, weights_key

STUDY = parse_study(
    {
        "name": "unit",
        "seeds": [0],
        "datasets": [
            {
                "adapter": "synthetic_motifs",
                "params": {"n": 120, "length": 40, "max_motifs": 2, "target": "binary"},
            }
        ],
        "models": [
            {
                "name": "attngen",
                "params": {"embed_dim": 8, "channels": [4, 4, 2], "hidden": 8},
                "train": {"epochs": 3},
            },
            {"name": "kmer_logreg"},
        ],
        "train": {"epochs": 2, "batch_size": 32, "monitor": "auroc", "threads": 1},
    }
)
TORCH_SPEC, FITTED_SPEC = STUDY.models


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(STUDY.datasets[0], seed=0)


def test_load_dataset_is_seeded(dataset):
    assert load_dataset(STUDY.datasets[0], seed=0).fingerprint() == dataset.fingerprint()
    assert load_dataset(STUDY.datasets[0], seed=1).fingerprint() != dataset.fingerprint()


def test_build_model_validates_params(dataset):
    model, params = build_model(TORCH_SPEC, dataset)
    assert isinstance(model, SequenceModel)
    assert params.embed_dim == 8
    assert isinstance(build_model(FITTED_SPEC, dataset)[0], FittedModel)
    with pytest.raises(UserError, match="unknown model 'atngen'"):
        build_model(TORCH_SPEC.model_copy(update={"name": "atngen"}), dataset)


def test_fit_unit_trains_what_a_hand_built_fit_trains(dataset):
    cfg = model_train_config(STUDY, TORCH_SPEC)
    set_seed(0, cfg.threads)
    by_hand, _ = build_model(TORCH_SPEC, dataset)
    expected = fit(by_hand, dataset.view("train"), dataset.view("val"), cfg, 0)

    model, params, unit_cfg, fitted = fit_unit(STUDY, TORCH_SPEC, dataset, 0)
    assert unit_cfg == cfg and unit_cfg.epochs == 3  # the model's train overrides the study's
    assert params == type(params).model_validate(TORCH_SPEC.params)
    assert fitted.curves == expected.curves and fitted.best_epoch == expected.best_epoch
    tokens = dataset.view("test").tokens
    np.testing.assert_array_equal(predict(model, tokens), predict(by_hand, tokens))


def test_fit_unit_reports_setup_before_the_first_epoch(dataset):
    events: list[tuple] = []
    unit = fit_unit(
        STUDY,
        FITTED_SPEC,
        dataset,
        0,
        on_start=lambda params, cfg: events.append(("start", type(cfg))),
        on_epoch=lambda epoch, metrics: events.append(("epoch", epoch)),
    )
    assert events == [("start", TrainConfig), ("epoch", 1)]
    assert unit.fitted.epochs_run == 1
    assert all(k.startswith("val_") for k in unit.fitted.curves)  # the test split is not read


def test_a_raising_epoch_callback_stops_training_after_setup_was_reported(dataset):
    started = []

    def stop(epoch: int, metrics: dict[str, float]) -> None:
        raise RuntimeError(f"stop at {epoch}")

    with pytest.raises(RuntimeError, match="stop at 1"):
        fit_unit(
            STUDY, TORCH_SPEC, dataset, 0, on_start=lambda p, c: started.append(p), on_epoch=stop
        )
    assert len(started) == 1


TEACHER_STUDY = parse_study(
    {
        "name": "teacher_memo",
        "seeds": [0],
        "datasets": [
            {
                "adapter": "synthetic_motifs",
                "params": {"n": 160, "length": 40, "max_motifs": 2, "target": "regression"},
            }
        ],
        "models": [
            {"name": "transformer", "params": {"d_model": 16, "n_heads": 2, "n_blocks": 1}},
            {
                "name": "sparse_transformer",
                "params": {"d_model": 16, "n_heads": 2, "n_blocks": 1, "sparsity": 0.2},
            },
        ],
        "train": {"epochs": 2, "batch_size": 32, "monitor": "pearson", "threads": 1},
    }
)


def count_fits(monkeypatch) -> list[str]:
    """Patch the harness's ``fit`` to record the class of every model it trains (teachers too)."""
    calls: list[str] = []
    real = fit_module.fit

    def counting(model, *args, **kwargs):
        calls.append(type(model).__name__)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(fit_module, "fit", counting)
    return calls


def test_a_teacher_equal_to_a_trained_model_of_the_unit_is_reused_not_retrained(monkeypatch):
    dataset = load_dataset(TEACHER_STUDY.datasets[0], 0)
    full_spec, sparse_spec = TEACHER_STUDY.models
    # without a memo the student trains its own teacher ...
    alone = fit_unit(TEACHER_STUDY, sparse_spec, dataset, 0).model
    # ... with one, the unit's `transformer` is handed over: same weights, no second training
    memo = TrainedMemo()
    full = fit_unit(TEACHER_STUDY, full_spec, dataset, 0, memo=memo).model
    calls = count_fits(monkeypatch)
    reused = fit_unit(TEACHER_STUDY, sparse_spec, dataset, 0, memo=memo).model
    assert "TransformerModel" not in calls  # the teacher was not trained again
    for name, tensor in full.state_dict().items():
        assert torch.equal(reused.teacher.state_dict()[name], tensor), name
        assert torch.equal(alone.teacher.state_dict()[name], tensor), name  # reuse is exact
    view = dataset.view("test")
    assert np.array_equal(predict(alone, view.tokens), predict(reused, view.tokens))


def test_weights_key_is_the_key_fit_files_the_model_under(dataset):
    teacher_data = load_dataset(TEACHER_STUDY.datasets[0], 0)
    full_spec = TEACHER_STUDY.models[0]
    memo = TrainedMemo()
    before = torch.random.get_rng_state()
    key = weights_key(TEACHER_STUDY, full_spec, teacher_data, 0)
    assert torch.equal(torch.random.get_rng_state(), before)  # global random state untouched
    fit_unit(TEACHER_STUDY, full_spec, teacher_data, 0, memo=memo)
    assert list(memo.entries) == [key]
    assert weights_key(TEACHER_STUDY, full_spec, teacher_data, 1) != key  # the seed is in it
    assert weights_key(STUDY, FITTED_SPEC, dataset, 0) == ""  # closed-form: not memoised


def test_settings_without_weights_of_their_own_change_the_key():
    """``positional`` or ``n_heads`` leave the initial weights equal; the key still differs."""
    variants = parse_study(
        {
            **TEACHER_STUDY.model_dump(mode="json", include={"name", "seeds", "datasets"}),
            "models": [
                {"name": "transformer", "label": k, "params": {"d_model": 16, "n_blocks": 1, **p}}
                for k, p in [("rope", {}), ("none", {"positional": "none"}), ("h2", {"n_heads": 2})]
            ],
        }
    )
    data = load_dataset(variants.datasets[0], 0)
    keys = {weights_key(variants, spec, data, 0) for spec in variants.models}
    assert len(keys) == 3


def test_pending_keys_are_computed_only_when_a_teacher_is_looked_up():
    computed: list[str] = []
    fetched: list[str] = []
    memo = TrainedMemo()
    memo.pending.append((lambda: computed.append("a") or "a", lambda: fetched.append("a")))
    assert computed == []  # filing a kept run costs nothing
    assert memo.get("b") is None and computed == ["a"] and fetched == []
    assert memo.get("a") is None and fetched == ["a"]  # a failed fetch: the caller trains
