"""The sparse transformer at long lengths: a fixed token budget, streamed selection that gives
exactly the whole-sequence top-k, and router training that needs no teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.bench.memory import cpu_tensor_peak
from harness.core.dataset import PAD_TOKEN
from harness.core.model import task_loss
from harness.core.registry import get_model
from harness.train.fit import fit
from tests.models.helpers import build, make_info, random_tokens, tiny_config, view_of

SMALL = {"d_model": 16, "n_heads": 2}


@pytest.mark.parametrize(("first", "stop"), [(0, 5), (3, 17), (20, 26), (0, 26)])
def test_stem_window_equals_the_whole_sequence_stem(first: int, stop: int) -> None:
    model = build("transformer", make_info("binary", 101), **SMALL).eval()
    x = random_tokens(3, 101)  # 26 tokens, the last one holding a single base
    x[1, 90:] = PAD_TOKEN
    with torch.no_grad():
        features, token_pad = model.stem(x)
        window, window_pad = model.stem.window(x, first, stop)
    torch.testing.assert_close(window, features[:, first:stop])
    assert torch.equal(window_pad, token_pad[:, first:stop])
    assert torch.equal(model.stem.token_padding(x), token_pad)


@pytest.mark.parametrize("position", [False, True])
@pytest.mark.parametrize("budget", [{"sparsity": 0.1}, {"keep_tokens": 7}])
@pytest.mark.parametrize("chunk", [8, 13, 4096])
def test_streamed_selection_is_the_whole_sequence_top_k(
    budget: dict, chunk: int, position: bool
) -> None:
    """Chunked scoring with a running top-k keeps what scoring every token at once keeps (with
    the position bias too: each chunk reads its tokens' absolute indices)."""
    info = make_info("binary", 400)
    prior = "label_association" if position else "none"
    model = build(
        "sparse_transformer", info, **SMALL, **budget, select_chunk=chunk, selector_prior=prior
    ).eval()
    if position:
        with torch.no_grad():
            model.selector.prior.normal_(generator=torch.Generator().manual_seed(1))
    x = random_tokens(5, 400)
    x[2, 170:] = PAD_TOKEN  # a shorter row keeps fewer tokens
    with torch.no_grad():
        features, token_pad = model.stem(x)
        expected = model._top_k(model.selector_scores(features, token_pad), token_pad)
        streamed = model.select_counted(x)
        torch.testing.assert_close(model(x), model.head(model.embed(x), x))
    assert torch.equal(streamed[0], expected[0]) and torch.equal(streamed[1], expected[1])


def test_the_position_prior_ranks_by_absolute_token_index() -> None:
    """A prior on token 30 of a 50-token training length keeps token 30 whatever the content or
    the chunking; tokens past the training length get no prior (and no error)."""
    info = make_info("binary", 200)
    model = build(
        "sparse_transformer",
        info,
        **SMALL,
        keep_tokens=1,
        select_chunk=8,
        selector_prior="label_association",
    ).eval()
    assert model.selector.prior.shape == (50,)
    with torch.no_grad():
        model.selector.prior[30] = 1e4
    assert model.select(random_tokens(4, 200)).flatten().tolist() == [30] * 4
    longer = model.select(random_tokens(4, 600))  # 150 tokens: 50..149 unbiased
    assert longer.flatten().tolist() == [30] * 4
    with torch.no_grad():
        model.selector.prior[30] = -1e4
    assert 30 not in model.select(random_tokens(4, 200)).flatten().tolist()


@pytest.mark.parametrize("length", [200, 800, 4000])
def test_a_token_budget_keeps_the_same_count_at_every_length(length: int) -> None:
    model = build("sparse_transformer", make_info("binary", length), keep_tokens=20).eval()
    x = random_tokens(2, length)
    x[1, 40:] = PAD_TOKEN  # 10 real tokens: all of them kept
    indices, counted = model.select_counted(x)
    assert indices.shape == (2, 20) and counted.sum(dim=1).tolist() == [20, 10]
    parts = model.macs_by_part(length)
    short = build("sparse_transformer", make_info("binary", 200), keep_tokens=20).macs_by_part(200)
    assert parts["attention_sublayer"] == short["attention_sublayer"]
    assert parts["stem"] == model.stem.macs(length) + model.stem.macs(20 * 4)


def test_sparsity_and_a_token_budget_are_not_both_given() -> None:
    entry = get_model("sparse_transformer")
    with pytest.raises(ValidationError, match="not both"):
        entry.params.model_validate({"sparsity": 0.2, "keep_tokens": 10})
    assert entry.params.model_validate({"keep_tokens": 10}).keep_tokens == 10


def test_selected_positions_cover_exactly_the_kept_fields() -> None:
    model = build("sparse_transformer", make_info("binary", 240), keep_tokens=4).eval()
    x = random_tokens(3, 240)
    covered = model.selected_positions(x)
    indices, _ = model.select_counted(x)
    first, last = model.stem.receptive_field(indices)
    bases = torch.arange(240)[None, None, :]
    expected = ((bases >= first[..., None]) & (bases <= last[..., None])).any(dim=1)
    assert torch.equal(covered, expected)


def test_a_budget_model_reads_only_its_kept_tokens() -> None:
    model = build("sparse_transformer", make_info("binary", 600), keep_tokens=6).eval()
    x = random_tokens(4, 600)
    with torch.no_grad():
        kept = model.select_counted(x)
        reference = model(x)
        outside = ~model.selected_positions(x)
        changed = torch.where(outside, (x + 1) % 4, x)
        assert outside.float().mean() > 0.8
        # the selection reads every base; the prediction from a selection reads only its fields
        assert torch.equal(model.forward_selected(changed, *kept), reference)


def test_router_trains_the_selector_without_a_teacher() -> None:
    info = make_info("regression", 120)
    model = build("sparse_transformer", info, **SMALL, selector_training="router", teacher=False)
    assert model.teacher is None
    model.train()
    assert model.on_epoch_start(1, 4)["tau"] == 1.0
    x = random_tokens(8, 120)
    out = model(x)
    assert model.extra_loss(x, out, torch.zeros(8)) == {}
    task_loss("regression", out, torch.zeros(8)).backward()
    assert model.selector is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.selector.parameters())


def test_the_router_gate_leaves_values_unchanged() -> None:
    """The gate is 1 in value: without exploration noise, training computes inference's output."""
    info = make_info("binary", 160)
    model = build("sparse_transformer", info, selector_training="router", teacher=False, dropout=0)
    x = random_tokens(4, 160)
    with torch.no_grad():
        expected = model.eval()(x)
    model.train()._tau = 0.0
    torch.testing.assert_close(model(x), expected)


def test_router_overfits_a_tiny_batch() -> None:
    info = make_info("regression", 120)
    x = random_tokens(16, 120).numpy()
    y = torch.randn(16, generator=torch.Generator().manual_seed(0)).numpy()
    tiny = view_of(x, y)
    model = build(
        "sparse_transformer",
        info,
        **SMALL,
        sparsity=0.2,
        selector_training="router",
        teacher=False,
    )
    result = fit(model, tiny, tiny, tiny_config(epochs=80, lr=3e-3), seed=0)
    losses = result.curves["train_loss"]
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("position", [False, True])
def test_kept_scores_are_the_whole_sequence_scores(position: bool) -> None:
    info = make_info("binary", 201)
    prior = "label_association" if position else "none"
    model = build("sparse_transformer", info, **SMALL, sparsity=0.3, selector_prior=prior).eval()
    if position:
        with torch.no_grad():
            model.selector.prior.normal_(generator=torch.Generator().manual_seed(1))
    x = random_tokens(3, 201)
    x[0, 150:] = PAD_TOKEN
    indices = torch.tensor([[0, 5, 37, 50], [0, 1, 49, 50], [12, 13, 14, 30]])
    with torch.no_grad():
        features, token_pad = model.stem(x)
        whole = model.selector_scores(features, token_pad)
        torch.testing.assert_close(model.kept_scores(x, indices), whole.gather(1, indices))


def test_router_training_backpropagates_only_through_kept_fields() -> None:
    """The stem learns from the kept tokens' receptive fields alone: no gradient elsewhere."""
    model = build("sparse_transformer", make_info("binary", 400), selector_training="router")
    model.teacher = None
    model.train()
    x = random_tokens(2, 400)
    embedded = []
    hook = model.stem.embedding.register_forward_hook(lambda m, i, out: embedded.append(out))
    model(x).sum().backward()
    hook.remove()
    assert model.stem.conv.weight.grad is not None
    # every embedding computed with gradient is a (B*K, field) window, not the whole sequence
    assert all(e.shape[0] * e.shape[1] < 0.5 * x.numel() for e in embedded if e.requires_grad)


def test_streamed_inference_memory_grows_with_the_chunk_not_the_length() -> None:
    """Tensor memory (profiler) of a forward pass at 4 kb and 64 kb: flat when streamed, ~16x
    for the whole-sequence stem the training path runs."""
    streamed, whole = {}, {}
    for length in (4096, 65536):
        info = make_info("binary", length)
        model = build("sparse_transformer", info, keep_tokens=16, select_chunk=64).eval()
        x = random_tokens(1, length)
        with torch.no_grad():
            streamed[length] = cpu_tensor_peak(lambda m=model, x=x: m(x))
            whole[length] = cpu_tensor_peak(lambda m=model, x=x: m.head(m.embed(x), x))
    assert streamed[65536] < 1.25 * streamed[4096]
    assert whole[65536] > 10 * whole[4096] and whole[65536] > 20 * streamed[65536]


def test_tied_scores_resolve_to_the_lower_index_however_the_sequence_is_chunked() -> None:
    """The enrichment selector scores every token of an element alike: ties at the cut-off go
    to the lower index, in the whole-sequence pass and in every chunking."""
    info = make_info("binary", 512)
    x = random_tokens(6, 512)
    kept = []
    for chunk in (8, 16, 4096):
        model = build(
            "sparse_transformer",
            info,
            selector_training="enrichment",
            keep_tokens=9,
            select_chunk=chunk,
        ).eval()
        table = torch.randint(0, 3, (4**8,), generator=torch.Generator().manual_seed(0))
        model.enrichment.table.copy_(table.float())  # three values: ties everywhere
        kept.append(model.select_counted(x))
        with torch.no_grad():
            features, token_pad = model.stem(x)
            scores = model.enrichment.window(x, 0, features.shape[1])
            whole = model._top_k(scores, token_pad)
        assert torch.equal(kept[-1][0], whole[0])
    assert all(torch.equal(k[0], kept[0][0]) for k in kept)


def test_params_validate_back_from_their_dump_and_pick_the_methods_teacher_default() -> None:
    entry = get_model("sparse_transformer")
    for given in ({"keep_tokens": 10}, {}, {"sparsity": 0.2, "selector_training": "router"}):
        params = entry.params.model_validate(given)
        assert entry.params.model_validate(params.model_dump()) == params
    assert entry.params.model_validate({}).sparsity == 0.1
    assert entry.params.model_validate({}).teacher is True
    assert entry.params.model_validate({"selector_training": "router"}).teacher is False
    assert entry.params.model_validate({"selector_training": "enrichment"}).teacher is False
    explicit = {"selector_training": "enrichment", "teacher": True}
    assert entry.params.model_validate(explicit).teacher is True


def test_an_enrichment_student_starts_from_a_saved_teacher(tmp_path) -> None:
    info = make_info("binary", 200)
    path = tmp_path / "teacher.pt"
    torch.save(build("transformer", info, **SMALL).state_dict(), path)
    model = build(
        "sparse_transformer",
        info,
        **SMALL,
        selector_training="enrichment",
        teacher=True,
        teacher_checkpoint=str(path),
    )
    x = random_tokens(20, 200).numpy().astype(np.uint8)
    view = view_of(x, np.zeros(20))
    assert model.prepare(view, view, context=None)["teacher_loaded"] == 1.0


def test_macs_count_what_streamed_inference_runs() -> None:
    info = make_info("binary", 4000)
    learned = build("sparse_transformer", info, keep_tokens=10).macs_by_part(4000)
    enrich = build(
        "sparse_transformer", info, keep_tokens=10, selector_training="enrichment"
    ).macs_by_part(4000)
    stem = build("transformer", info).stem
    assert learned["stem"] == stem.macs(4000) + stem.macs(40)  # selection pass + kept fields
    assert enrich["stem"] == stem.macs(40) and enrich["selector"] == 0
    assert enrich["total"] < 0.05 * learned["total"]


def test_gathering_many_tokens_in_parts_equals_one_gather() -> None:
    model = build("transformer", make_info("binary", 4000), **SMALL).eval()
    x = random_tokens(2, 4000)
    indices = torch.arange(1000).expand(2, -1).contiguous()
    with torch.no_grad():
        features, token_pad = model.stem(x)
        gathered, pad = model.stem.gather(x, indices)  # 1,000 > GATHER_CHUNK: two parts
    torch.testing.assert_close(gathered, features[:, :1000])
    assert torch.equal(pad, token_pad[:, :1000])
