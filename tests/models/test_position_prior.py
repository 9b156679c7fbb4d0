"""The selector's position prior: label association per base, summed per token, from the
training split; a fixed-position signal puts the prior's peak on its token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.train.fit import fit
from models.position_prior import base_association, token_log_prior
from tests.models.helpers import build, make_info, tiny_config, view_of


def with_prior(**params):
    """A small ``sparse_transformer`` over 120 bases whose selector has the position prior."""
    small = {"d_model": 16, "n_heads": 2, "selector_prior": "label_association"}
    return build("sparse_transformer", make_info("binary", 120), **small, **params)


def aligned(task: str, n: int = 400, length: int = 120, at: int = 70, seed: int = 0):
    """Random DNA whose label is carried by the base at position ``at`` (T in positives)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    labels = rng.integers(0, 2, size=n)
    tokens[:, at] = np.where(labels == 1, 3, rng.integers(0, 3, size=n))
    return tokens, (labels.astype(np.float32) if task == "regression" else labels)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_the_association_peaks_at_the_labelled_position(task: str) -> None:
    tokens, labels = aligned(task)
    per_base = base_association(tokens, labels, task)
    assert per_base.shape == (120,) and int(per_base.argmax()) == 70
    assert per_base[70] > 20 * np.median(per_base)


def test_the_token_prior_covers_each_receptive_field() -> None:
    per_base = np.zeros(120)
    per_base[70] = 1.0
    prior = token_log_prior(per_base, pool=4, kernel=9)  # token t reads 4t-4 .. 4t+7
    assert prior.shape == (30,)
    top = set(np.flatnonzero(prior == prior.max()))
    assert top == {t for t in range(30) if 4 * t - 4 <= 70 <= 4 * t + 7} == {16, 17, 18}
    assert np.all(token_log_prior(np.zeros(120), 4, 9) == 0)


def test_prepare_fills_the_prior_and_the_selector_keeps_the_labelled_token() -> None:
    """A selector with the prior and an untrained content score keeps the labelled token."""
    tokens, labels = aligned("binary")
    train = view_of(tokens, labels)
    model = with_prior(keep_tokens=3, teacher=False, selector_training="router")
    result = fit(model, train, train, tiny_config(epochs=1), seed=0)
    assert result.prepare_metrics["selector_prior_range"] > 1.0
    kept = model.eval().select(torch.as_tensor(tokens[:50], dtype=torch.long))
    assert all(bool(((row >= 16) & (row <= 18)).any()) for row in kept)


def test_the_teacher_is_distilled_into_the_content_score_alone() -> None:
    """Ranking adds the prior; the distillation loss reads the score without it (else the
    content score would learn to cancel the prior)."""
    model = with_prior(sparsity=0.1)
    with torch.no_grad():
        model.selector.prior.copy_(torch.linspace(-5.0, 5.0, 30))
    x = torch.as_tensor(aligned("binary", n=8)[0], dtype=torch.long)
    model.train()
    model(x)
    with torch.no_grad():
        features, token_pad = model.stem(x)
        content = model.selector_scores(features, token_pad, prior=False)
        ranked = model.selector_scores(features, token_pad)
    torch.testing.assert_close(model._cache.scores, content)
    torch.testing.assert_close(ranked - content, model.selector.prior.expand_as(content))
