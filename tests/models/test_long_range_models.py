"""The long-context baselines: ``local_transformer`` (block-local attention) and ``dilated_cnn``.

Locality of the local attention (against a dense banded reference and by perturbation), agreement
with ``transformer`` when the window covers the sequence, padding, the dilated CNN's receptive
field, forward passes at long lengths, and costs linear in L (full attention's is not).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from harness.core.dataset import PAD_TOKEN
from harness.core.model import ATTENTION_PART
from models.blocks import rope
from models.local_transformer import LocalSelfAttention, block_local_attention
from tests.models.helpers import build, make_info, random_tokens

LONG_RANGE = ("local_transformer", "dilated_cnn")


def _banded_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pad: torch.Tensor, window: int, overlap: bool
) -> torch.Tensor:
    """Dense attention with the block-local pattern written as a (T, T) mask."""
    n_tokens = q.shape[2]
    block = torch.arange(n_tokens) // min(window, n_tokens)
    offset = block[:, None] - block[None, :]  # query block - key block
    allowed = (offset == 0) | ((offset == 1) & overlap)
    attend = allowed[None, None] & ~pad[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attend)


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize(("n_tokens", "window"), [(24, 8), (29, 8), (5, 8), (17, 1)])
def test_block_local_attention_equals_a_banded_dense_mask(
    n_tokens: int, window: int, overlap: bool
) -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n_tokens, 4, generator=gen) for _ in range(3))
    pad = torch.zeros(2, n_tokens, dtype=torch.bool)
    pad[1, n_tokens - 3 :] = True  # padding at the end of one row
    got = block_local_attention(q, k, v, pad, window, overlap)
    want = _banded_reference(q, k, v, pad, window, overlap)
    torch.testing.assert_close(got[0], want[0])
    real = ~pad[1]  # padding queries' outputs are never used
    torch.testing.assert_close(got[1][:, real], want[1][:, real])
    # no padding: the same without a key mask
    torch.testing.assert_close(
        block_local_attention(q, k, v, None, window, overlap),
        _banded_reference(q, k, v, torch.zeros_like(pad), window, overlap),
    )


@pytest.mark.parametrize("overlap", [True, False])
def test_equals_the_transformer_when_the_window_covers_the_sequence(overlap: bool) -> None:
    info = make_info("binary", 120)
    torch.manual_seed(0)
    full = build("transformer", info).eval()
    local = build("local_transformer", info, window=30, overlap=overlap).eval()
    local.load_state_dict(full.state_dict())  # same parameters, same names
    x = random_tokens(3, 120)
    x[1, 90:] = PAD_TOKEN
    with torch.no_grad():
        torch.testing.assert_close(local(x), full(x))


@pytest.mark.parametrize(("overlap", "n_blocks"), [(False, 1), (False, 2), (True, 1), (True, 2)])
def test_a_block_is_blind_beyond_its_reach(overlap: bool, n_blocks: int) -> None:
    """Perturb bases that only block j's stem tokens read: the pre-pool states of every block
    outside j .. j + n_blocks (with overlap) or outside j (without) are unchanged."""
    window, pool, r = 8, 4, 4  # stem kernel 9
    params = {"window": window, "overlap": overlap, "n_blocks": n_blocks, "pool": pool}
    model = build("local_transformer", make_info("binary", 256), **params, stem_kernel=2 * r + 1)
    model.eval()
    x = random_tokens(1, 256)  # 64 tokens, 8 blocks of 8
    j = 3
    first, last = j * window * pool + r, (j + 1) * window * pool - r  # bases of block j only
    y = x.clone()
    y[0, first:last] = (y[0, first:last] + 1) % 4
    with torch.no_grad():
        before, after = model.token_states(x)[0], model.token_states(y)[0]
    changed = (before - after).abs().amax(dim=-1).view(-1, window).amax(dim=-1) > 1e-6
    reach = n_blocks if overlap else 0
    expected = torch.zeros(8, dtype=torch.bool)
    expected[j : j + reach + 1] = True
    assert changed.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("name", "params"), [("local_transformer", {"window": 4}), ("dilated_cnn", {"n_layers": 4})]
)
def test_padding_is_ignored(name: str, params: dict) -> None:
    model = build(name, make_info("regression", 96), **params).eval()
    x = random_tokens(3, 90)
    batch = torch.cat([x, torch.full((3, 30), PAD_TOKEN)], dim=1)
    batch[1, 41:] = PAD_TOKEN
    with torch.no_grad():
        out = model(batch)
        torch.testing.assert_close(out[0], model(x[:1])[0])
        torch.testing.assert_close(out[1], model(x[1:2, :41])[0])
    imp = model.importance(batch)
    assert (imp[0, 90:] == 0).all() and (imp[1, 41:] == 0).all()


def test_dilated_cnn_receptive_field_grows_with_depth() -> None:
    info = make_info("binary", 64)
    fields = [build("dilated_cnn", info, n_layers=n).receptive_field() for n in range(0, 11)]
    assert fields[0] == 4 + 8  # the stem alone: pool + 2 * (stem_kernel // 2)
    assert all(b > a for a, b in itertools.pairwise(fields))
    assert fields[8] == (2 * 255 + 1) * 4 + 8 == 2052  # the defaults: thousands of bases
    assert build("dilated_cnn", info, kernel=5, n_layers=3).token_reach() == 2 * 7


def test_dilated_cnn_reads_only_its_receptive_field() -> None:
    """Changing one base changes only the token states whose receptive field holds it, and the
    change does spread beyond the stem (the dilations are used)."""
    model = build("dilated_cnn", make_info("binary", 400), n_layers=3).eval()
    x = random_tokens(1, 400)
    base = 201
    y = x.clone()
    y[0, base] = (y[0, base] + 1) % 4
    with torch.no_grad():
        diff = (model.token_states(x) - model.token_states(y))[0].abs().amax(dim=-1)
    changed = torch.nonzero(diff > 1e-6).flatten()
    token, reach, r = base // 4, model.token_reach(), 4
    lo, hi = (base - r) // 4 - reach, (base + r) // 4 + reach  # tokens whose field holds `base`
    assert reach == 7
    assert changed.min() >= lo and changed.max() <= hi
    assert changed.max() - changed.min() > 2 * 3  # wider than the stem's own reach
    assert token in changed.tolist()


@pytest.mark.parametrize("length", [64, 1000, 4096])
@pytest.mark.parametrize("name", LONG_RANGE)
def test_forward_at_long_lengths(name: str, length: int) -> None:
    model = build(name, make_info("binary", 64)).eval()  # built for 64, run at any length
    with torch.no_grad():
        out = model(random_tokens(1, length))
    assert out.shape == (1,) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", LONG_RANGE)
def test_macs_are_linear_in_length(name: str) -> None:
    model = build(name, make_info("binary", 512))
    for length in (512, 2048):
        ratio = model.macs(8 * length) / model.macs(length)
        assert 7 <= ratio <= 9, (length, ratio)


def test_local_attention_cost_is_linear_and_full_attention_is_not() -> None:
    info = make_info("binary", 512)
    local = build("local_transformer", info)
    full = build("transformer", info)
    length = 512  # 128 tokens, 4 windows of 32
    local_ratio = (
        local.macs_by_part(8 * length)[ATTENTION_PART] / local.macs_by_part(length)[ATTENTION_PART]
    )
    full_ratio = (
        full.macs_by_part(8 * length)[ATTENTION_PART] / full.macs_by_part(length)[ATTENTION_PART]
    )
    assert local_ratio == pytest.approx(8.0)
    assert full_ratio > 16  # quadratic scores dominate
    # at a length the window covers, local attention costs exactly what full attention does
    assert local.macs_by_part(100) == full.macs_by_part(100)


def test_local_attention_macs_count_the_padded_blocks() -> None:
    attn = LocalSelfAttention(dim=8, n_heads=2, dropout=0.0, rotary=True, window=4, overlap=True)
    n_tokens = 10  # 3 blocks of 4, keys from 8
    expected = 4 * 10 * 64 + 2 * 3 * 4 * 8 * 8 + 4 * 10 * 8
    assert attn.macs(n_tokens) == expected
    attn.overlap = False
    assert attn.macs(n_tokens) == expected - 2 * 3 * 4 * 4 * 8


def test_rope_uses_global_positions_inside_windows() -> None:
    """Tokens are rotated by their global indices before blocking; inside a window only relative
    offsets matter, so shifting every position by the same amount changes no output."""
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 16, 4, generator=gen) for _ in range(3))
    pos = torch.arange(16)
    a = block_local_attention(rope(q, pos), rope(k, pos), v, None, 4, True)
    b = block_local_attention(rope(q, pos + 37), rope(k, pos + 37), v, None, 4, True)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert math.isfinite(float(a.sum()))
