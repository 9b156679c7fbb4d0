"""The sparse transformer: exactly the transformer at sparsity 1, reads only its kept tokens'
receptive fields, trains its selector by every method offered, and costs what it claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core.dataset import PAD_TOKEN
from harness.core.model import task_loss
from harness.train.fit import fit
from models.selector_training import SelectorCache
from models.sparse_transformer import selector_recall
from tests.models.helpers import build, make_info, random_tokens, tiny_config, view_of

L = 120  # 30 tokens; k = 3 at sparsity 0.1
SMALL = {"d_model": 16, "n_heads": 2}
METHODS = ["attribution", "pooling", "dynamic", "gumbel_topk"]


@pytest.mark.parametrize("length", [9, 64, 201])
@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_shapes(task: str, length: int) -> None:
    model = build("sparse_transformer", make_info(task, length)).eval()
    x = random_tokens(3, length)
    out = model(x)
    assert out.shape == ((3, 3) if task == "multiclass" else (3,))
    assert torch.isfinite(out).all()
    imp = model.importance(x)
    assert imp.shape == (3, length) and torch.isfinite(imp).all() and (imp >= 0).all()
    torch.testing.assert_close(model(x), model.head(model.embed(x), x))


@pytest.mark.parametrize("absolute", [False, True])
def test_sparsity_one_is_exactly_the_transformer(absolute: bool) -> None:
    info = make_info("regression", 200)
    full = build("transformer", info, absolute_positions=absolute).eval()
    sparse = build("sparse_transformer", info, sparsity=1.0, absolute_positions=absolute).eval()
    assert not any(k.startswith(("selector", "teacher")) for k in sparse.state_dict())
    sparse.load_state_dict(full.state_dict(), strict=True)
    assert sparse.n_params == full.n_params
    assert sparse.macs_by_part(200) == full.macs_by_part(200)
    x = random_tokens(4, 200)
    x[0, 150:] = PAD_TOKEN
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), full(x))


def test_appending_padding_changes_nothing() -> None:
    """k counts real tokens, so padding neither changes the kept set nor the prediction."""
    model = build("sparse_transformer", make_info("binary", 80), sparsity=0.2).eval()
    x = random_tokens(4, 61)
    padded = torch.cat([x, torch.full((4, 40), PAD_TOKEN)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(x))
    assert torch.equal(model.select(padded), model.select(x))
    # a mixed batch: each row keeps ceil(0.2 * its own tokens)
    mixed = x.clone()
    mixed[0, 20:] = PAD_TOKEN
    _, counted = model.select_counted(mixed)
    assert counted.sum(dim=1).tolist() == [1, 4, 4, 4]
    with torch.no_grad():
        torch.testing.assert_close(model(mixed)[0], model(x[:1, :20])[0])


def _outside_fields(model, indices: torch.Tensor, length: int) -> torch.Tensor:
    """Bases outside every kept token's receptive field ``(B, L)``."""
    first, last = model.stem.receptive_field(indices)
    bases = torch.arange(length)[None, None, :]
    inside = (bases >= first[..., None]) & (bases <= last[..., None])
    return ~inside.any(dim=1)


@pytest.mark.parametrize("sparsity", [0.05, 0.1, 0.2])
def test_prediction_reads_only_the_kept_tokens(sparsity: float) -> None:
    model = build("sparse_transformer", make_info("binary", L), sparsity=sparsity).eval()
    x = random_tokens(8, L)
    indices = model.select(x)
    assert indices.shape[1] == int(np.ceil(sparsity * L / 4 - 1e-9))
    with torch.no_grad():
        reference = model.forward_selected(x, indices)
        torch.testing.assert_close(model(x), reference)
        outside = _outside_fields(model, indices, L)
        kept_spans = torch.zeros_like(x, dtype=torch.bool)
        for offset in range(4):  # the bases each kept token pools over
            kept_spans.scatter_(1, indices * 4 + offset, True)
        if sparsity <= 0.1:  # at 0.2 the 12-base fields of 6 of 30 tokens cover about half
            assert outside.sum() >= 0.5 * (~kept_spans).sum()
        for seed in range(3):
            shift = torch.randint(1, 4, x.shape, generator=torch.Generator().manual_seed(seed))
            changed = torch.where(outside, (x + shift) % 4, x)
            assert (changed != x).sum() == outside.sum()
            assert torch.equal(model.forward_selected(changed, indices), reference)
        # a base at the centre of each row's first kept token does matter
        inside = x.clone()
        centre = indices[:, 0] * 4 + 1
        inside[torch.arange(8), centre] = (x[torch.arange(8), centre] + 2) % 4
        assert not torch.allclose(model.forward_selected(inside, indices), reference)


def test_selected_positions_are_the_kept_receptive_fields() -> None:
    model = build("sparse_transformer", make_info("binary", L)).eval()
    x = random_tokens(2, L)
    covered = model.selected_positions(x)
    assert covered.shape == (2, L)
    assert torch.equal(covered, ~_outside_fields(model, model.select(x), L))
    assert covered.sum(dim=1).le(3 * 12).all()


def test_macs_attention_share_at_ten_percent() -> None:
    info = make_info("regression", 200)
    full = build("transformer", info).macs_by_part(200)
    model = build("sparse_transformer", info, sparsity=0.1)
    sparse = model.macs_by_part(200)
    assert sparse["attention_sublayer"] <= 0.10 * full["attention_sublayer"]
    assert sparse["ffn"] <= 0.10 * full["ffn"]
    # the selection pass over every base, then the 5 kept tokens' fields again
    assert sparse["selector"] > 0 and sparse["stem"] == full["stem"] + model.stem.macs(5 * 4)
    assert sparse["total"] == sum(v for k, v in sparse.items() if k != "total")


def test_recall_counts_motif_bases_and_whole_motifs() -> None:
    covered = np.zeros((2, 10), dtype=bool)
    covered[0, 2:6] = True
    motifs = np.zeros((2, 10), dtype=bool)
    motifs[0, 3:5] = True  # wholly covered
    motifs[0, 7:9] = True  # missed
    motifs[1, 0:2] = True  # missed
    out = selector_recall(covered, motifs)
    assert out["selector_recall"] == pytest.approx(2 / 6)
    assert out["selector_motif_recall"] == pytest.approx(1 / 3)
    assert out["selector_coverage"] == pytest.approx(4 / 20)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_the_selector(method: str) -> None:
    model = build("sparse_transformer", make_info("regression", L), selector_training=method)
    model.train()
    model.on_epoch_start(2, 4)  # past teacher forcing
    x = random_tokens(8, L)
    out = model(x)
    extra = model.extra_loss(x, out, torch.zeros(8))
    loss = task_loss("regression", out, torch.zeros(8)) + sum(extra.values())
    loss.backward()
    assert model.selector is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.selector.parameters())
    assert all(p.grad is None for p in model.teacher.parameters())
    if method == "dynamic":
        assert "keep_ratio" in extra


def test_dynamic_training_gives_dropped_tokens_gradient() -> None:
    """DynamicViT's point: a token masked out this step still learns whether to be kept."""
    model = build("sparse_transformer", make_info("regression", L), selector_training="dynamic")
    model.train()
    x = random_tokens(4, L)
    features, token_pad = model.stem(x)
    scores = model.selector_scores(features, token_pad).detach().requires_grad_(True)
    model._cache = SelectorCache(x, scores, token_pad)
    out = model._soft_forward(features, token_pad, scores)
    (grad,) = torch.autograd.grad(out.sum(), scores)
    dropped = model._cache.keep < 0.5
    assert dropped.any() and (grad[dropped] != 0).float().mean() > 0.9


@pytest.mark.parametrize("method", ["response", "gumbel_topk"])
def test_overfits_a_tiny_batch_with_a_saved_teacher(method: str, tmp_path) -> None:
    info = make_info("regression", L)
    path = tmp_path / "teacher.pt"
    torch.save(build("transformer", info, **SMALL).state_dict(), path)
    x = random_tokens(16, L).numpy()
    y = torch.randn(16, generator=torch.Generator().manual_seed(0)).numpy()
    tiny = view_of(x, y)
    model = build(
        "sparse_transformer",
        info,
        **SMALL,
        sparsity=0.2,
        selector_training=method,
        teacher_checkpoint=str(path),
    )
    result = fit(model, tiny, tiny, tiny_config(epochs=80, lr=3e-3), seed=0)
    losses = result.curves["train_loss"]
    assert result.prepare_metrics == {"teacher_loaded": 1.0}
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])


def test_teacher_is_trained_by_the_harness_loop_and_starts_the_student(regression_data) -> None:
    train, val = regression_data.view("train"), regression_data.view("val")
    model = build("sparse_transformer", regression_data.info, **SMALL)
    result = fit(model, train, val, tiny_config(epochs=2), seed=0)
    assert set(result.prepare_metrics) == {"teacher_best_val", "teacher_best_epoch"}
    assert "train_selector" in result.curves and result.curves["teacher_forcing"] == [1.0, 0.0]
    assert len(result.curves["val_selector_recall"]) == 2  # the harness's per-epoch hook
    assert model.teacher is not None and not any(
        p.requires_grad for p in model.teacher.parameters()
    )
    metrics = model.evaluation_metrics(regression_data.view("test"))
    assert set(metrics) == {"selector_recall", "selector_motif_recall", "selector_coverage"}
    assert 0 <= metrics["selector_recall"] <= 1
    assert model.epoch_metrics(val).keys() == metrics.keys()


def test_deterministic() -> None:
    info = make_info("binary", L)
    torch.manual_seed(3)
    a = build("sparse_transformer", info).eval()
    torch.manual_seed(3)
    b = build("sparse_transformer", info).eval()
    x = random_tokens(4, L)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_masked_training_path_is_the_gathered_path() -> None:
    """DynamicViT's hand-written masked softmax with every token kept is SDPA; with a hard keep
    mask it computes what gathering the kept tokens computes (dropped tokens only attend to
    themselves and are left out of the pooling)."""
    model = build("sparse_transformer", make_info("regression", L)).eval()
    x = random_tokens(4, L)
    features, token_pad = model.stem(x)
    positions = torch.arange(features.shape[1])
    ones = torch.ones(token_pad.shape)
    with torch.no_grad():
        torch.testing.assert_close(
            model.pool_head(model.encode(features, token_pad, positions, ones), token_pad, ones),
            model.tokens_out(features, token_pad, positions),
        )
        indices = model.select(x)
        keep = torch.zeros(token_pad.shape).scatter_(1, indices, 1.0)
        masked = model.pool_head(
            model.encode(features, token_pad, positions, keep), token_pad, keep
        )
        torch.testing.assert_close(masked, model(x))
