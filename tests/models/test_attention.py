"""The full-attention baseline and the Genomic Benchmarks CNN."""

from __future__ import annotations

import importlib

import torch

from harness.core.dataset import PAD_TOKEN
from tests.models.helpers import build, make_info, random_tokens


def test_attention_without_positions_is_the_seed_model() -> None:
    model = build("attention", make_info("regression", 200), positional=False)
    assert model.n_params == 4961  # the seed's reported count


def test_attention_importance_is_attention_received() -> None:
    model = build("attention", make_info("binary", 30))
    x = random_tokens(2, 30)
    weights = model.attention_weights(x)
    assert weights.shape == (2, 4, 30, 30)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 30))
    imp = model.importance(x)
    torch.testing.assert_close(imp, weights.mean(dim=(1, 2)))
    torch.testing.assert_close(imp.sum(-1), torch.ones(2))


def test_attention_ignores_padding() -> None:
    model = build("attention", make_info("binary", 30))
    model.eval()
    x = random_tokens(2, 30)
    padded = x.clone()
    padded[:, 20:] = PAD_TOKEN
    assert (model.importance(padded)[:, 20:] == 0).all()
    # a padded sequence predicts exactly what its unpadded prefix predicts
    torch.testing.assert_close(model(padded), model(x[:, :20]))


def test_positional_encoding_breaks_permutation_invariance() -> None:
    x = random_tokens(3, 40)
    shuffled = x[:, torch.randperm(40, generator=torch.Generator().manual_seed(0))]
    plain = build("attention", make_info("binary", 40), positional=False).eval()
    torch.testing.assert_close(plain(x), plain(shuffled))
    positional = build("attention", make_info("binary", 40), positional=True).eval()
    assert not torch.allclose(positional(x), positional(shuffled))


def test_attention_outputs_per_position() -> None:
    model = build("attention", make_info("binary", 25))
    assert model.attention_outputs(random_tokens(2, 25)).shape == (2, 25, 32)


def test_attention_macs_quadratic_in_length() -> None:
    model = build("attention", make_info("binary", 200))
    head = model.macs(0)
    quadratic = [model.macs(n) - head - 4 * n * 32 * 32 for n in (100, 200)]
    assert quadratic == [2 * 100 * 100 * 32, 2 * 200 * 200 * 32]


def test_gb_cnn_matches_the_genomic_benchmarks_model() -> None:
    # imported here, not at the top: the package takes seconds to import
    cnn = importlib.import_module("genomic_benchmarks.models.torch").CNN
    for length in (200, 500):
        reference = cnn(2, 6, 100, length, "cpu")
        ours = build("gb_cnn", make_info("binary", length))
        ref_params = sum(p.numel() for p in reference.parameters())
        assert ours.n_params == ref_params
        ref_layers = [type(m).__name__ for m in reference.cnn_model]
        our_layers = [type(m).__name__ for m in ours.convs.net] + ["Flatten"]
        assert our_layers == ref_layers


def test_gb_cnn_short_sequences_are_padded_not_rejected() -> None:
    model = build("gb_cnn", make_info("binary", 10)).eval()
    assert model(random_tokens(2, 10)).shape == (2,)
    assert model.macs(10) == model.macs(57)


def _reference_attention(model, tokens: torch.Tensor) -> torch.Tensor:
    """The pre-SDPA forward: the same parameters through ``nn.MultiheadAttention`` itself."""
    positions = torch.arange(tokens.shape[1])
    h = model.embed(tokens) + model.positional(positions)
    attended, _ = model.attention(
        h, h, h, key_padding_mask=model._pad_mask(tokens), need_weights=False
    )
    keep = (~model._pad_mask(tokens)).unsqueeze(-1).to(attended.dtype)
    return model.classifier((attended * keep).sum(dim=1) / keep.sum(dim=1))


def test_attention_sdpa_matches_multihead_attention() -> None:
    """SDPA (no mask when nothing is padded) reproduces ``nn.MultiheadAttention`` to float
    tolerance, padded or not, and the state dict keys are the module's."""
    torch.manual_seed(0)
    model = build("attention", make_info("regression", 40)).eval()
    assert "attention.in_proj_weight" in model.state_dict()
    x = random_tokens(5, 40)
    padded = x.clone()
    padded[:2, 25:] = PAD_TOKEN
    padded[4] = PAD_TOKEN  # an all-PAD row stays defined
    with torch.no_grad():
        for tokens in (x, padded):
            torch.testing.assert_close(model(tokens), _reference_attention(model, tokens))
        weights = model.attention_weights(padded)
        _, reference = model.attention(
            *(3 * [model.embed(padded) + model.positional(torch.arange(40))]),
            key_padding_mask=model._pad_mask(padded),
            average_attn_weights=False,
        )
    torch.testing.assert_close(weights, reference)
