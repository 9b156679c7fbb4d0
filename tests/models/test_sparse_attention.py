"""Sparse attention: the prediction reads only the selected positions, the selector learns, and
the cost is O(L) for the selector plus O(k) for the approximator."""

from __future__ import annotations

import pytest
import torch

from harness.core.dataset import PAD_TOKEN
from harness.core.model import task_loss
from tests.models.helpers import build, make_info, random_tokens

L = 60


def _unselected_mask(indices: torch.Tensor, length: int, window: int) -> torch.Tensor:
    """Positions outside every selected window ``(B, L)``."""
    reach = torch.zeros(indices.shape[0], length, dtype=torch.bool)
    r = window // 2
    for offset in range(-r, r + 1):
        reach.scatter_(1, (indices + offset).clamp(0, length - 1), True)
    return ~reach


def _change_positions(x: torch.Tensor, where: torch.Tensor, seed: int) -> torch.Tensor:
    """Every position in ``where`` gets a different random base."""
    shift = torch.randint(1, 4, x.shape, generator=torch.Generator().manual_seed(seed))
    return torch.where(where, (x + shift) % 4, x)


@pytest.mark.parametrize("window", [1, 3])
@pytest.mark.parametrize("attend", [False, True])
def test_prediction_reads_only_selected_positions(window: int, attend: bool) -> None:
    """Given the selection, changing every other position changes nothing, bit for bit; and the
    real forward is that computation applied to the model's own selection."""
    model = build("sparse_attention", make_info("binary", L), selector_window=window, attend=attend)
    model.eval()
    x = random_tokens(8, L)
    indices = model.select(x)
    assert indices.shape == (8, 6)
    torch.testing.assert_close(model(x), model.forward_selected(x, indices))
    outside = _unselected_mask(indices, L, window)
    assert outside.sum() >= 8 * (L - 6 * window)
    for seed in range(3):
        changed = _change_positions(x, outside, seed)
        assert (changed != x).sum() == outside.sum()
        assert torch.equal(
            model.forward_selected(changed, indices), model.forward_selected(x, indices)
        )


def test_whole_model_invariant_when_selection_is_kept() -> None:
    """End to end: swap each unselected base for the base the selector likes least there; the
    selection cannot change (those scores only drop), so the output must not either."""
    model = build("sparse_attention", make_info("binary", L)).eval()
    x = random_tokens(8, L)
    indices = model.select(x)
    with torch.no_grad():
        per_base = torch.stack(
            [model.selector_logits(torch.full_like(x, b)) for b in range(4)]
        )  # (4, B, L): score of base b at every position
    worst = per_base.argmin(dim=0)
    outside = _unselected_mask(indices, L, 1)
    changed = torch.where(outside, worst, x)
    assert torch.equal(model.select(changed), indices)
    torch.testing.assert_close(model(changed), model(x), rtol=0, atol=1e-6)


def test_selector_gets_gradient_through_top_k() -> None:
    """The seed's selector was never trained; here the task loss reaches it."""
    model = build("sparse_attention", make_info("binary", L))
    x = random_tokens(8, L)
    loss = task_loss("binary", model(x), torch.ones(8))
    loss.backward()
    grads = [p.grad for p in model.selector.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_padding_is_never_selected_when_avoidable() -> None:
    model = build("sparse_attention", make_info("binary", L), sparsity=0.2).eval()
    x = random_tokens(4, L)
    x[:, 30:] = PAD_TOKEN
    assert (model.select(x) < 30).all()


def test_importance_is_selector_score() -> None:
    model = build("sparse_attention", make_info("binary", L))
    x = random_tokens(3, L)
    imp = model.importance(x)
    torch.testing.assert_close(imp, torch.sigmoid(model.selector_logits(x)))
    assert ((imp > 0) & (imp < 1)).all()


def test_seed_parameter_count() -> None:
    model = build("sparse_attention", make_info("regression", 200), positional=False)
    assert model.n_params == 2346  # the seed's reported count


def test_macs_far_below_attention_and_linear() -> None:
    sparse = build("sparse_attention", make_info("binary", 200), sparsity=0.1)
    full = build("attention", make_info("binary", 200))
    assert sparse.macs(200) < 0.1 * full.macs(200)
    parts = {n: sparse.macs_by_part(n) for n in (200, 400, 800)}
    assert parts[400]["attention_sublayer"] == 2 * parts[200]["attention_sublayer"]
    assert parts[800]["attention_sublayer"] == 4 * parts[200]["attention_sublayer"]
    assert parts[800]["selector"] == 4 * parts[200]["selector"]
    total = parts[200].pop("total")
    assert sum(parts[200].values()) == total == sparse.macs(200)
    # the attention sublayer alone: the kept 10% cost far less than full attention's
    assert parts[200]["attention_sublayer"] < 0.1 * full.macs_by_part(200)["attention_sublayer"]


def test_k_is_ceil_of_sparsity_times_length() -> None:
    model = build("sparse_attention", make_info("binary", 30), sparsity=0.1)
    assert model.select(random_tokens(2, 30)).shape == (2, 3)
    model = build("sparse_attention", make_info("binary", 31), sparsity=0.1)
    assert model.select(random_tokens(2, 31)).shape == (2, 4)
