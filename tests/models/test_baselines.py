"""Joint pipeline learning rates, the k-mer linear model and the constant predictor."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config.study import TrainConfig
from harness.train.fit import fit
from models.kmer_logreg import kmer_counts
from models.onehot_linear import onehot_features
from tests.models.helpers import build, make_info, view_of


def test_joint_pipeline_param_groups_carry_the_learning_rates() -> None:
    model = build("joint_pipeline", make_info("binary", 50), embedding_lr_multiplier=3.0)
    groups = model.param_groups(2e-3)
    assert [g["lr"] for g in groups] == pytest.approx([6e-3, 2e-3])
    assert [id(p) for p in groups[0]["params"]] == [id(model.embedding.weight)]
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    assert len(set(grouped)) == len(grouped)


def test_joint_pipeline_pooled_readout_is_the_seed_model() -> None:
    assert build("joint_pipeline", make_info("regression", 200), readout="pool").n_params == 27505
    flat = [build("joint_pipeline", make_info("binary", n)).n_params for n in (100, 200)]
    assert flat[1] - flat[0] == 8 * 100 * 32  # the flattened classifier grows with L


ACGT = {c: i for i, c in enumerate("ACGT")}


def _planted(n: int, length: int, motif: str, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Random sequences; label 1 iff ``motif`` was planted (negatives scrubbed of it)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    code = np.array([ACGT[c] for c in motif], dtype=np.uint8)
    k = len(code)

    def occurrences(row: np.ndarray) -> list[int]:
        return [j for j in range(length - k + 1) if (row[j : j + k] == code).all()]

    labels = rng.integers(0, 2, size=n)
    starts = []
    for i in range(n):
        while occurrences(tokens[i]):
            tokens[i] = rng.integers(0, 4, size=length)
        start = int(rng.integers(0, length - k + 1))
        if labels[i]:
            tokens[i, start : start + k] = code
        starts.append(start if labels[i] else None)
    return tokens, labels, starts


def test_kmer_logreg_learns_a_planted_kmer() -> None:
    tokens, labels, starts = _planted(300, 60, "TATAAC", seed=0)
    model = build("kmer_logreg", make_info("binary", 60), k=6, both_strands=False)
    model.fit(view_of(tokens[:200], labels[:200]), view_of(tokens[200:250], labels[200:250]))
    scores = model.predict(tokens[250:])
    assert np.mean((scores > 0.5) == labels[250:]) >= 0.95
    top = int(np.argmax(model.estimator.coef_[0]))
    assert top == sum(ACGT[c] * 4 ** (5 - i) for i, c in enumerate("TATAAC"))
    imp = model.importance(tokens[250:])
    for row, start in zip(imp, starts[250:], strict=True):
        if start is not None:
            assert (
                row[start : start + 6].mean() > 3 * np.delete(row, range(start, start + 6)).mean()
            )


def test_kmer_counts_both_strands_are_reverse_complement_invariant() -> None:
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 4, size=(5, 30)).astype(np.uint8)
    reverse_complement = (3 - tokens[:, ::-1]).astype(np.uint8)
    a, b = kmer_counts(tokens, 4, True), kmer_counts(reverse_complement, 4, True)
    assert (a != b).nnz == 0
    assert kmer_counts(tokens, 4, False).sum() == 5 * 27


def test_kmer_logreg_regression_and_macs() -> None:
    tokens, _, _ = _planted(200, 40, "GGGCGG", seed=2)
    counts = kmer_counts(tokens, 3, True).toarray()
    rng = np.random.default_rng(0)
    beta = rng.normal(size=counts.shape[1])
    target = counts @ beta
    model = build("kmer_logreg", make_info("regression", 40), k=3)
    metrics = model.fit(view_of(tokens[:150], target[:150]), view_of(tokens[150:], target[150:]))
    assert metrics["pearson"] > 0.95
    assert model.macs(200) == 198 * (3 * 2 + 1)
    assert model.macs(400) - model.macs(200) == 200 * 7


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_constant_predicts_the_training_prior(task: str) -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, size=(40, 20)).astype(np.uint8)
    labels = rng.integers(0, 2, size=40) if task == "binary" else rng.normal(size=40)
    model = build("constant", make_info(task, 20))
    cfg = TrainConfig(threads=1)
    fit(model, view_of(tokens[:30], labels[:30]), view_of(tokens[30:], labels[30:]), cfg, seed=0)
    np.testing.assert_allclose(model.predict(tokens[30:]), np.mean(labels[:30]))
    assert (model.importance(tokens) == 0).all()
    assert model.macs(200) == 0


def test_onehot_linear_reads_a_fixed_position_and_explains_itself_exactly() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 4, size=(400, 40)).astype(np.uint8)
    labels = (tokens[:, 17] == ACGT["T"]).astype(int)  # the label is the base at position 17
    model = build("onehot_linear", make_info("binary", 40))
    model.fit(view_of(tokens[:300], labels[:300]), view_of(tokens[300:350], labels[300:350]))
    scores = model.predict(tokens[350:])
    assert np.mean((scores > 0.5) == labels[350:]) >= 0.95
    importance = model.importance(tokens[350:])
    assert importance.shape == (50, 40)
    assert (importance.argmax(axis=1) == 17).all()
    # exact decomposition: intercept + the coefficient of each held base = the decision function
    coef = model.estimator.coef_.reshape(40, 4)
    held = coef[np.arange(40)[None, :], tokens[350:]].sum(axis=1) + model.estimator.intercept_[0]
    assert np.allclose(held, model.estimator.decision_function(onehot_features(tokens[350:])))
    assert model.macs(40) == 40


def test_onehot_linear_ignores_n_and_pad() -> None:
    tokens = np.array([[0, 4, 5, 3]], dtype=np.uint8)
    assert onehot_features(tokens).toarray().tolist() == [
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    ]
