"""``sdpa_reference``, the bare full-attention floor of ``harness bench``: shapes, the tokens it
shares with ``transformer``, padding, a tiny batch it can fit, and a quadratic attention cost."""

from __future__ import annotations

import pytest
import torch

from harness.core.dataset import PAD_TOKEN
from harness.core.model import ATTENTION_PART
from harness.train.fit import fit
from tests.models.helpers import build, make_info, random_tokens, tiny_config, view_of


@pytest.mark.parametrize(("task", "shape"), [("binary", (3,)), ("multiclass", (3, 3))])
@pytest.mark.parametrize("length", [1, 37, 64])
def test_output_shape_at_any_length(task: str, shape: tuple[int, ...], length: int) -> None:
    model = build("sdpa_reference", make_info(task, length)).eval()
    out = model(random_tokens(3, length))
    assert out.shape == shape and torch.isfinite(out).all()


def test_same_width_depth_and_tokens_as_the_transformer() -> None:
    info = make_info("binary", 1000)
    bare, full = build("sdpa_reference", info), build("transformer", info)
    assert bare.n_tokens(1000) == full.stem.n_tokens(1000) == 250
    assert len(bare.blocks) == len(full.blocks)
    assert bare.blocks[0].attn.dim == full.blocks[0].attn.dim
    assert not bare.blocks[0].attn.rotary
    # the attention sublayers differ only by the transformer's rotation (4 T d MACs per block)
    parts_bare, parts_full = bare.macs_by_part(1000), full.macs_by_part(1000)
    rotation = 2 * 4 * 250 * 64
    assert parts_full[ATTENTION_PART] - parts_bare[ATTENTION_PART] == rotation
    assert parts_bare["total"] < parts_full["total"]


def test_padding_tokens_change_nothing() -> None:
    model = build("sdpa_reference", make_info("binary", 64), dropout=0.0).eval()
    x = random_tokens(2, 40)
    padded = torch.cat([x, torch.full((2, 24), PAD_TOKEN)], dim=1)
    torch.testing.assert_close(model(x), model(padded))


def test_attention_cost_grows_quadratically_the_rest_linearly() -> None:
    model = build("sdpa_reference", make_info("binary", 64))
    small, large = model.macs_by_part(4096), model.macs_by_part(4 * 4096)
    assert large[ATTENTION_PART] / small[ATTENTION_PART] > 10  # -> 16 as the T^2 term wins
    for part in ("patch", "ffn"):
        assert large[part] == 4 * small[part]
    assert model.macs(4 * 4096) > 8 * model.macs(4096)


def test_overfits_a_tiny_batch(binary_data) -> None:
    train = binary_data.view("train")
    tiny = view_of(train.tokens[:16], train.labels[:16])
    torch.manual_seed(0)
    model = build("sdpa_reference", binary_data.info)
    result = fit(model, tiny, tiny, tiny_config(epochs=100, lr=1e-2), seed=0)
    losses = result.curves["train_loss"]
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])
