"""A run that goes non-finite stops with ``Diverged`` at the step where it happened, with a
one-line reason; a healthy run is untouched."""

from __future__ import annotations

import pickle
import re

import pytest
import torch
from torch import nn

from harness.config.study import TrainConfig
from harness.core.errors import Diverged, UserError
from harness.train.fit import fit
from tests.harness.train.test_training import TinyModel, views

# n=32, batch_size=8: four steps per epoch
PATTERN = (
    r"^diverged: (output|loss|grad_norm|weights|val_output) (nan|inf|-inf) "
    r"at epoch \d+ step \d+ \(train\.lr=[^,)]+(, term: \w+)?\)$"
)


class NanAfter(TinyModel):
    """Its training forward returns NaN from the ``after``-th call on (validation is fine)."""

    def __init__(self, info, after: int) -> None:
        super().__init__(info)
        self.after, self.calls = after, 0

    def forward(self, tokens):
        out = super().forward(tokens)
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                return out * float("nan")
        return out


class InfPenalty(TinyModel):
    """An extra loss term that is infinite."""

    def extra_loss(self, tokens, outputs, targets):
        return {"penalty": outputs.sum() * 0 + float("inf")}


class SqrtAtZero(TinyModel):
    """A finite output whose gradient is not: d sqrt(z) / dz at z = 0."""

    def __init__(self, info) -> None:
        super().__init__(info)
        self.z = nn.Parameter(torch.zeros(()))

    def forward(self, tokens):
        return super().forward(tokens) + torch.sqrt(self.z)


class SpoiltWeight(TinyModel):
    """A weight outside the graph turns NaN during the epoch's last step: outputs, loss and
    gradients stay finite, only the weights show it."""

    def __init__(self, info) -> None:
        super().__init__(info)
        self.spare = nn.Parameter(torch.zeros(3))
        self.calls = 0

    def forward(self, tokens):
        if self.training:
            self.calls += 1
            if self.calls == 4:
                with torch.no_grad():
                    self.spare.fill_(float("nan"))
        return super().forward(tokens)


class NanInEval(TinyModel):
    """Finite in training, NaN on validation."""

    def forward(self, tokens):
        out = super().forward(tokens)
        return out if self.training else out * float("nan")


def _fit(model, **train):
    train_view, _ = views("binary")
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 8, "patience": 0, **train})
    return fit(model, train_view, train_view, cfg, seed=0)


def _info():
    return views("binary")[1]


@pytest.mark.parametrize(
    ("build", "train", "message"),
    [
        (
            lambda info: NanAfter(info, after=6),
            {},
            "diverged: output nan at epoch 2 step 2 (train.lr=0.001)",
        ),
        (InfPenalty, {}, "diverged: loss inf at epoch 1 step 1 (train.lr=0.001, term: penalty)"),
        (SqrtAtZero, {}, "diverged: grad_norm inf at epoch 1 step 1 (train.lr=0.001)"),
        (SpoiltWeight, {"lr": 0.5}, "diverged: weights nan at epoch 1 step 4 (train.lr=0.5)"),
        (NanInEval, {}, "diverged: val_output nan at epoch 1 step 4 (train.lr=0.001)"),
        # a learning rate so large that the second step's logits overflow to inf - inf
        (TinyModel, {"lr": 1e30, "grad_clip": None}, r"output nan at epoch 1 step 2"),
    ],
    ids=["output", "extra-loss-term", "grad-norm", "weights", "validation", "huge-lr"],
)
def test_non_finite_training_raises_diverged_where_it_happened(build, train, message):
    with pytest.raises(Diverged) as caught:
        _fit(build(_info()), **train)
    text = str(caught.value)
    assert re.match(PATTERN, text), text
    assert message in text


def test_diverged_is_a_run_failure_not_a_user_error():
    assert not issubclass(Diverged, UserError)
    # workers send their failures back pickled: the message must survive the trip
    err = Diverged("diverged: loss nan at epoch 3 step 17 (train.lr=0.5)")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_without_clipping_a_bad_gradient_shows_in_the_next_outputs():
    # grad_clip off: no gradient norm is computed; the NaN update is caught one step later
    with pytest.raises(Diverged, match=r"^diverged: output nan at epoch 1 step 2 "):
        _fit(SqrtAtZero(_info()), grad_clip=None)


def test_a_healthy_fit_does_not_diverge():
    result = _fit(TinyModel(_info()), lr=0.05)
    assert result.epochs_run == 3
    assert all(v == v for v in result.curves["train_loss"])  # no NaN logged
