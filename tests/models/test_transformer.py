"""The transformer: shapes, padding invariance, SDPA masking only when padded, training, cost."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from harness.config.study import TrainConfig
from harness.core.dataset import PAD_TOKEN
from harness.train.fit import fit
from models.blocks import rope
from tests.models.helpers import build, make_info, random_tokens, tiny_config, view_of


@pytest.mark.parametrize("length", [9, 64, 201])
@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_shapes(task: str, length: int) -> None:
    model = build("transformer", make_info(task, length)).eval()
    x = random_tokens(3, length)
    out = model(x)
    assert out.shape == ((3, 3) if task == "multiclass" else (3,))
    imp = model.importance(x)
    assert imp.shape == (3, length) and torch.isfinite(imp).all() and (imp >= 0).all()
    torch.testing.assert_close(model(x), model.head(model.embed(x), x))


def test_default_size_is_a_practitioners_model() -> None:
    model = build("transformer", make_info("regression", 200))
    assert 130_000 < model.n_params < 150_000
    features, token_pad = model.stem(random_tokens(2, 200))
    assert features.shape == (2, 50, 64) and not token_pad.any()


@pytest.mark.parametrize("length", [40, 37])
def test_appending_padding_changes_nothing(length: int) -> None:
    model = build("transformer", make_info("binary", 64)).eval()
    x = random_tokens(4, length)
    padded = torch.cat([x, torch.full((4, 27), PAD_TOKEN)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(x))
    imp = model.importance(padded)
    assert (imp[:, length:] == 0).all()
    torch.testing.assert_close(imp[:, :length], model.importance(x))


def test_pooling_ignores_what_padding_would_hold() -> None:
    """Each row of a mixed batch predicts what it predicts alone; PAD content is never read."""
    model = build("transformer", make_info("regression", 60)).eval()
    x = random_tokens(3, 60)
    batch = x.clone()
    batch[0, 33:] = PAD_TOKEN
    batch[1, 50:] = PAD_TOKEN
    batch[2] = PAD_TOKEN  # all padding: defined, finite
    with torch.no_grad():
        out = model(batch)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[0], model(x[:1, :33])[0])
        torch.testing.assert_close(out[1], model(x[1:2, :50])[0])


def test_sdpa_gets_a_mask_only_when_the_batch_is_padded(monkeypatch) -> None:
    masks: list[object] = []
    sdpa = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        masks.append(kwargs.get("attn_mask"))
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    model = build("transformer", make_info("binary", 40)).eval()
    x = random_tokens(2, 40)
    with torch.no_grad():
        model(x)
        assert masks == [None, None]  # one call per block
        x[0, 30:] = PAD_TOKEN
        model(x)
    assert all(isinstance(m, torch.Tensor) for m in masks[2:]) and len(masks) == 4


def test_rope_encodes_relative_offsets() -> None:
    """Rotated dot products depend on the offset between positions only (any length)."""
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(i: int, j: int) -> torch.Tensor:
        return (rope(q, torch.tensor([i])) * rope(k, torch.tensor([j]))).sum()

    torch.testing.assert_close(score(3, 10), score(50_003, 50_010), rtol=1e-3, atol=1e-3)
    assert not torch.allclose(score(3, 10), score(3, 11))


def test_stem_gather_equals_whole_sequence_stem() -> None:
    model = build("transformer", make_info("binary", 50)).eval()
    x = random_tokens(2, 50)
    x[1, 45:] = PAD_TOKEN
    features, token_pad = model.stem(x)
    indices = torch.tensor([[0, 5, 12], [3, 11, 12]])
    gathered, gathered_pad = model.stem.gather(x, indices)
    torch.testing.assert_close(gathered, features.gather(1, indices[..., None].expand(-1, -1, 64)))
    assert torch.equal(gathered_pad, token_pad.gather(1, indices))


@pytest.mark.parametrize("absolute", [False, True])
def test_overfits_a_tiny_batch_and_is_deterministic(absolute: bool) -> None:
    info = make_info("regression", 40)
    x = random_tokens(16, 40).numpy()
    y = torch.randn(16, generator=torch.Generator().manual_seed(0)).numpy()
    tiny = view_of(x, y)
    curves = []
    for _ in range(2):
        torch.manual_seed(0)  # the runner builds every model under the run seed
        model = build("transformer", info, d_model=32, absolute_positions=absolute)
        result = fit(model, tiny, tiny, tiny_config(epochs=40, lr=3e-3), seed=0)
        curves.append(result.curves["train_loss"])
    assert curves[0] == curves[1]
    assert curves[0][-1] < 0.1 * curves[0][0]


def test_macs_by_part() -> None:
    model = build("transformer", make_info("binary", 200))
    parts = model.macs_by_part(200)
    assert set(parts) == {"total", "stem", "attention_sublayer", "ffn", "selector", "head"}
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    assert parts["selector"] == 0 and model.macs(200) == parts["total"]
    assert parts["stem"] == 200 * 64 * 64 * 9
    # attention is quadratic in tokens (50 -> 100 tokens: scores x4, projections x2)
    t50 = model.macs_by_part(200)["attention_sublayer"]
    t100 = model.macs_by_part(400)["attention_sublayer"]
    scores = 2 * 2 * 64  # two blocks, scores + weighted values, per token pair
    assert t100 - 2 * t50 == scores * (100**2 - 2 * 50**2)


def test_single_token_outputs_do_not_depend_on_position() -> None:
    """One token alone: attention is the identity on its value and RoPE cancels, so the response
    is a function of the token's own features (what the sparse model's selector learns)."""
    model = build("transformer", make_info("multiclass", 40)).eval()
    x = random_tokens(2, 40)
    x[1, 30:] = PAD_TOKEN
    with torch.no_grad():
        alone = model.single_token_outputs(x)
        features, token_pad = model.stem(x)
        at_seven = model.tokens_out(features[:, 3:4], token_pad[:, 3:4], torch.tensor([7]))
    assert alone.shape == (2, 10, 3)
    assert torch.isnan(alone[1, 8:]).all() and not torch.isnan(alone[:, :8]).any()
    torch.testing.assert_close(alone[:, 3], at_seven)


def test_train_defaults_are_valid_train_settings() -> None:
    model = build("transformer", make_info("binary", 40))
    config = TrainConfig(**model.train_defaults)
    assert config.schedule == "warmup_cosine" and config.optimizer == "adamw"
    assert model.role == "reference"
    assert build("sparse_transformer", make_info("binary", 40)).role is None


@pytest.mark.parametrize("positional", ["rope", "none"])
def test_absolute_positions_are_added_at_each_tokens_own_index(positional: str) -> None:
    """``absolute_positions``: a learned embedding per token index, read at the token's own
    index, also when it is scored alone; indices past the trained length refused."""
    info = make_info("binary", 40)
    model = build("transformer", info, absolute_positions=True, positional=positional).eval()
    assert model.position is not None and model.position.num_embeddings == 10
    assert build("transformer", info).position is None
    x = random_tokens(2, 40)
    with torch.no_grad():
        model.position.weight.normal_()  # large enough to matter
        alone = model.single_token_outputs(x)
        features, token_pad = model.stem(x)
        at_three = model.tokens_out(features[:, 3:4], token_pad[:, 3:4], torch.tensor([3]))
        at_seven = model.tokens_out(features[:, 3:4], token_pad[:, 3:4], torch.tensor([7]))
        torch.testing.assert_close(alone[:, 3, 0], at_three)
        assert not torch.allclose(at_three, at_seven)
        with pytest.raises(ValueError, match="absolute_positions covers 10 tokens"):
            model(random_tokens(2, 44))
