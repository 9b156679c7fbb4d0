"""AttnGen: masking exactly floor(alpha L) least important positions, the consistency term and
the ablation registrations."""

from __future__ import annotations

import math

import pytest
import torch

from harness.core.dataset import PAD_TOKEN
from models.attngen import consistency, least_important_positions, mask_least_important
from tests.models.helpers import build, make_info, random_tokens


@pytest.mark.parametrize("k", [0, 1, 7, 49])
def test_mask_least_important_masks_exactly_the_k_lowest(k: int) -> None:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (6, 50), generator=g)
    importance = torch.rand(6, 50, generator=g)
    original = tokens.clone()
    masked = mask_least_important(tokens, importance, k)
    assert torch.equal(tokens, original)  # pure
    is_masked = masked == PAD_TOKEN
    assert (is_masked.sum(dim=1) == k).all()
    assert torch.equal(masked[~is_masked], tokens[~is_masked])
    if 0 < k < 50:
        lowest_kept = importance.masked_fill(is_masked, float("inf")).min(dim=1).values
        highest_masked = importance.masked_fill(~is_masked, float("-inf")).max(dim=1).values
        assert (highest_masked <= lowest_kept).all()


def test_ties_follow_the_tiebreak() -> None:
    importance = torch.zeros(1, 6)
    assert least_important_positions(importance, 2).tolist() == [[0, 1]]
    tiebreak = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    assert least_important_positions(importance, 2, tiebreak).tolist() == [[5, 4]]


@pytest.mark.parametrize(("alpha", "length"), [(0.1, 50), (0.25, 64), (0.29, 100), (0.0, 50)])
def test_model_masks_floor_alpha_l_least_important(alpha: float, length: int) -> None:
    model = build("attngen", make_info("binary", length), mask_ratio=alpha)
    x = random_tokens(5, length)
    masked = model.masked_tokens(x)
    is_masked = masked == PAD_TOKEN
    assert (is_masked.sum(dim=1) == math.floor(alpha * length + 1e-9)).all()
    if alpha > 0:
        imp = model.importance(x)
        lowest_kept = imp.masked_fill(is_masked, float("inf")).min(dim=1).values
        highest_masked = imp.masked_fill(~is_masked, float("-inf")).max(dim=1).values
        assert (highest_masked <= lowest_kept).all()


def test_random_masking_count_and_spread() -> None:
    model = build("attngen_random_kl", make_info("binary", 50))
    assert model.params.masking == "random"
    x = torch.zeros(200, 50, dtype=torch.long)  # one base: attention ranking would be all ties
    is_masked = model.masked_tokens(x) == PAD_TOKEN
    assert (is_masked.sum(dim=1) == 5).all()
    assert is_masked.any(dim=0).all()  # every position gets masked somewhere


def test_importance_is_softmax_of_embedding_mean_and_base_only() -> None:
    model = build("attngen", make_info("binary", 40))
    x = random_tokens(3, 40)
    imp = model.importance(x)
    torch.testing.assert_close(imp.sum(dim=1), torch.ones(3))
    expected = torch.softmax(model.embedding(x).mean(-1), dim=1)
    torch.testing.assert_close(imp, expected)
    # the documented weakness: equal bases in a sequence get equal importance
    row = imp[0]
    for base in range(4):
        values = row[x[0] == base]
        if len(values) > 1:
            torch.testing.assert_close(values, values[0].expand_as(values))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_consistency_is_zero_for_equal_outputs_and_positive_otherwise(task: str) -> None:
    shape = (4, 3) if task == "multiclass" else (4,)
    a = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    assert consistency(task, a, a).abs().item() < 1e-7
    assert consistency(task, a, a + 1.0 + torch.arange(shape[0]).view(-1, *[1] * (a.dim() - 1))) > 0


def test_binary_kl_matches_the_formula() -> None:
    p_logit, q_logit = torch.tensor([0.4]), torch.tensor([-1.2])
    p, q = torch.sigmoid(p_logit), torch.sigmoid(q_logit)
    expected = p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))
    torch.testing.assert_close(consistency("binary", p_logit, q_logit), expected.squeeze())


def test_extra_loss_only_when_masking_and_kl_apply() -> None:
    x, y = random_tokens(4, 60), torch.tensor([0, 1, 0, 1])
    plain = build("attngen", make_info("binary", 60), mask_ratio=0.0).train()
    assert plain.extra_loss(x, plain(x), y) == {}
    model = build("attngen", make_info("binary", 60)).train()
    assert set(model.extra_loss(x, model(x), y)) == {"kl"}
    model.eval()
    assert model.extra_loss(x, model(x), y) == {}


def test_no_kl_ablation_trains_on_masked_input_and_predicts_on_original() -> None:
    model = build("attngen_no_kl", make_info("binary", 60))
    assert model.params.kl_weight == 0.0 and model.params.task_input == "masked"
    x = random_tokens(4, 60)
    model.train()
    torch.manual_seed(0)
    trained_on = model(x)
    torch.manual_seed(0)
    torch.testing.assert_close(trained_on, model._classify(model.masked_tokens(x)))
    assert model.extra_loss(x, trained_on, torch.zeros(4)) == {}
    model.eval()
    torch.testing.assert_close(model(x), model._classify(x))


def test_default_attngen_trains_task_on_original_input() -> None:
    model = build("attngen", make_info("binary", 60)).train()
    x = random_tokens(4, 60)
    torch.manual_seed(0)
    out = model(x)
    torch.manual_seed(0)
    torch.testing.assert_close(out, model._classify(x))
