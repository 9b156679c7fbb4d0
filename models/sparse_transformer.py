"""The transformer with a token selector: attention, feed-forward and pooling run among the top k
stem tokens only (``k = ceil(sparsity * T)``, or a fixed ``keep_tokens``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from harness.core.dataset import DatasetInfo, SplitView
from harness.core.model import ATTENTION_PART, FitContext
from harness.core.registry import register_model
from models.blocks import TokenScorer
from models.kmer_enrichment import EnrichmentScorer
from models.position_prior import base_association, token_log_prior
from models.selector_training import SelectorCache, SelectorTrainingMixin, noise
from models.transformer import TransformerModel, TransformerParams

SelectorTraining = Literal[
    "response", "attribution", "pooling", "dynamic", "gumbel_topk", "router", "enrichment"
]
TEACHER_METHODS = ("response", "attribution", "pooling")
# methods whose training never runs the full model: no teacher unless asked for
TEACHERLESS_METHODS = ("router", "enrichment")
DEFAULT_SPARSITY = 0.1


class SparseTransformerParams(TransformerParams):
    sparsity: float | None = Field(
        None,
        gt=0,
        le=1,
        description=f"share of stem tokens kept: k = ceil(sparsity * tokens); default"
        f" {DEFAULT_SPARSITY} unless keep_tokens is given",
    )
    keep_tokens: int | None = Field(
        None,
        ge=1,
        description="fixed token budget: keep min(keep_tokens, tokens) whatever the length, so"
        " attention costs O(keep_tokens^2) at any length (replaces sparsity; give one of the two)",
    )
    select_chunk: int = Field(
        1024,
        ge=8,
        description="inference: stem tokens scored per chunk while the selector streams over the"
        " sequence keeping a running top-k (peak memory grows with this and k, not the length)",
    )
    selector_hidden: int = Field(32, ge=1, description="hidden channels of the selector conv")
    selector_prior: Literal["none", "label_association"] = Field(
        "none",
        description="label_association: add to the selector's scores a fixed per-token log prior,"
        " each token's receptive field's univariate association with the label on the training"
        " split (chi-squared / n r^2 of the one-hot positions; models/position_prior.py), for"
        " aligned sequences such as TSS-centred promoters, where position says what matters",
    )
    prior_weight: float = Field(
        1.0, ge=0, description="label_association: weight of the log prior in the score"
    )
    selector_training: SelectorTraining = Field(
        "response",
        description=(
            "response / attribution / pooling: selector distilled (KL) from a full teacher's"
            " single-token responses / input x gradient token attributions / attention-pooling"
            " weights, student trained on its hard top-k; dynamic: DynamicViT masked attention with"
            " Gumbel-sigmoid keep decisions; gumbel_topk: exact-k Gumbel top-k, straight-through,"
            " annealed temperature; router: Mixture-of-Depths-style hard top-k of Gumbel-perturbed"
            " scores (annealed), the kept tokens' scores given gradient by a straight-through gate"
            " (no teacher needed; costs O(k^2) in training too); enrichment: no learned selector,"
            " tokens ranked by the over-representation of their k-mers in the training sequences"
            " (label-free motif discovery), the student trained on that top-k"
        ),
    )
    enrichment_k: int = Field(
        8, ge=4, le=10, description="enrichment: k-mer length of the over-representation table"
    )
    teacher: bool | None = Field(
        None,
        description="train a full transformer teacher first and start the student from its weights"
        " (required by response / attribution / pooling); default: yes, except for router and"
        " enrichment, whose training never runs the full model",
    )
    teacher_checkpoint: str | None = Field(
        None, description="saved transformer state_dict to use as teacher; null = train one"
    )
    selector_weight: float = Field(
        1.0, ge=0, description="weight of the selector's distillation from the teacher"
    )
    teacher_forcing_epochs: int = Field(
        1, ge=0, description="first epochs in which the student trains on the teacher's top-k"
    )
    output_distill_weight: float = Field(
        0.0, ge=0, description="weight of the MSE / KL of the student's outputs to the teacher's"
    )
    ratio_weight: float = Field(2.0, ge=0, description="dynamic: keep-ratio loss weight")
    tau_start: float = Field(1.0, gt=0, description="gumbel_topk: first-epoch temperature")
    tau_end: float = Field(0.1, gt=0, description="gumbel_topk: last-epoch temperature")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """One budget (sparsity or keep_tokens), and the teacher default of the method; filled
        in before validation, so a dumped model validates back to itself."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("keep_tokens") is not None and data.get("sparsity") is not None:
            raise ValueError("give sparsity (a share of tokens) or keep_tokens (a count), not both")
        if data.get("keep_tokens") is None and data.get("sparsity") is None:
            data["sparsity"] = DEFAULT_SPARSITY
        if data.get("teacher") is None:
            data["teacher"] = data.get("selector_training") not in TEACHERLESS_METHODS
        return data


def base_params(params: TransformerParams) -> TransformerParams:
    """The ``transformer`` parameters inside a sparse model's (the teacher's architecture)."""
    return TransformerParams(**{k: getattr(params, k) for k in TransformerParams.model_fields})


@register_model("sparse_transformer", SparseTransformerParams)
class SparseTransformerModel(SelectorTrainingMixin, TransformerModel):
    """``transformer`` whose blocks and pooling see only the top-k tokens of a selector.

    1. Stem (as ``transformer``) over all L bases -> T tokens.
    2. Selector: ``LN -> Conv1d(d, 32, 3) -> GELU -> Conv1d(32, 1, 1)`` over the stem tokens (each a
       12-bp pattern detector, seen with its two neighbours): a context-aware score per token.
       (``enrichment``: no learned selector, a k-mer over-representation table instead.) With
       ``selector_prior: label_association`` a fixed per-token log prior is added: the training
       split's univariate label association of the token's bases (``models.position_prior``),
       for sequences aligned on a landmark, where the content score cannot see position.
    3. Keep the k = ceil(sparsity * T_real) (or min(keep_tokens, T_real)) highest-scoring tokens
       of each sequence, ties to the lower index (padding never outranks a real token; T_real
       counts non-padding tokens, so appending PAD changes nothing), gather them, and run the
       blocks (RoPE at their original indices), pooling and head on those k tokens only:
       attention costs O(k^2) instead of O(T^2).

    ``sparsity = 1`` builds exactly ``transformer``: no selector, no teacher, same state dict.
    ``keep_tokens`` fixes k instead (a token budget: attention then costs the same at any length).

    Inference streams (:meth:`select_counted`): the stem and selector run over ``select_chunk``
    tokens at a time keeping a running top-k, then only the kept tokens' bases are read again
    (:meth:`forward_selected`), so peak memory grows with k and the chunk, not the length.

    Locality (tested): :meth:`forward_selected` reads bases only inside the kept tokens' receptive
    fields (one gather, :meth:`ConvStem.gather`), and ``forward(x) == forward_selected(x,
    select(x))``. The selection reads every base through the O(L) stem and selector, whose MACs are
    counted. No global token summarises the sequence.

    Selector training (``selector_training``; measured in docs/models.md):

    - ``response`` (default): a full ``transformer`` teacher is trained in :meth:`prepare` by the
      harness loop (same train settings and seed; or loaded from ``teacher_checkpoint``) and
      frozen; the student starts from its weights. Per batch, each stem token's *single-token
      response* -- the teacher's output with that token alone (attention over one token is the
      identity, so a function of its own features), minus the sequence's median over tokens, as
      an L2 norm -- normalised over tokens, is the target of the selector's softmax
      (cross-entropy = KL up to a constant). It ranks planted motifs as well as an oracle does
      (recall 0.99 at 10%, where input x gradient reaches 0.77 and pooling weights 0.83). The
      student trains on its own hard top-k (what inference runs), except in the first
      ``teacher_forcing_epochs``, when it trains on the teacher's top-k while the selector
      learns. The selector sees stem features with gradients stopped, so ranking never bends the
      student's features. With a position prior the target is distilled into the content score
      alone (distilled with the prior, the content score learns to cancel it). Training costs a
      teacher fit plus the student's.
    - ``attribution``: the same with the teacher's input x gradient attribution of each stem
      token, ``|sum_d h_td * d out / d h_td|``, as target.
    - ``pooling``: the same with the teacher's attention-pooling weights as target.
    - ``dynamic`` (DynamicViT, Rao et al. 2021): in training every token stays, and a
      Gumbel-sigmoid hard keep decision (straight-through) masks dropped tokens out of attention
      and pooling by a hand-written softmax, so every token's keep probability gets gradient; a
      keep-ratio loss holds the mean decision at ``sparsity``. At inference tokens are dropped.
    - ``gumbel_topk`` (Kool et al. 2019; Xie & Ermon 2019): exactly k tokens kept per sequence,
      sampled as the top-k of Gumbel-perturbed scores; the straight-through relaxation is
      ``sigmoid((score + g - threshold) / tau)``, tau annealed geometrically from ``tau_start``
      to ``tau_end`` over the epochs.
    - ``router`` (Mixture-of-Depths routing, Raposo et al. 2024): no teacher and no gradient
      through all tokens (the selection is a streamed pass without gradient); the hard top-k of
      Gumbel-perturbed scores (temperature annealed as above) trains the student, and a
      straight-through gate on the kept tokens gives their scores gradient
      (:meth:`_routed_forward`). Training is as light as inference at long lengths.
    - ``enrichment``: tokens ranked by how over-represented their k-mers are in the training
      split (:mod:`models.kmer_enrichment`, filled in :meth:`prepare`; label-free), the student
      trained on that fixed top-k. No teacher.

    Evaluation: ``selector_recall`` = share of planted-motif bases (``motif_mask``) inside a kept
    token's receptive field, ``selector_motif_recall`` = share of planted motifs wholly inside
    one, ``selector_coverage`` = share of all bases covered (the recall a random selector gets).
    """

    params: SparseTransformerParams
    role: ClassVar[str | None] = None  # a model under test, not the reference it inherits from

    def __init__(self, params: SparseTransformerParams, info: DatasetInfo) -> None:
        sparse = params.keep_tokens is not None or (params.sparsity or 1.0) < 1.0
        # The teacher is built first, from the random state a standalone `transformer` with these
        # params starts from (the harness seeds right before building a model), and the state is
        # then rewound: the teacher is exactly that model, so the harness can hand over one
        # already trained in the same unit instead of training it twice, and the student's own
        # initialisation is what it would be without a teacher.
        state = torch.random.get_rng_state()
        teacher = TransformerModel(base_params(params), info) if sparse and params.teacher else None
        torch.random.set_rng_state(state)
        super().__init__(params, info)
        self.sparse = sparse
        self.selector: TokenScorer | None = None
        self.enrichment: EnrichmentScorer | None = None
        self.teacher: TransformerModel | None = None
        if not self.sparse:
            return
        method = params.selector_training
        if method in TEACHER_METHODS and not params.teacher:
            raise ValueError(f"selector_training {method!r} distils from a teacher: teacher: true")
        if method == "enrichment":
            self.enrichment = EnrichmentScorer(params.enrichment_k, params.pool)
        else:
            with_prior = params.selector_prior != "none"
            positions = self.stem.n_tokens(info.length) if with_prior else 0
            self.selector = TokenScorer(params.d_model, params.selector_hidden, positions=positions)
        if teacher is not None:
            self.teacher = teacher
            _freeze(self.teacher)
        self._cache: SelectorCache | None = None
        self._forcing = False
        self._tau = params.tau_start

    # ------------------------------------------------------------------------------ training
    def train(self, mode: bool = True) -> SparseTransformerModel:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # a frozen teacher never runs dropout
        return self

    def prepare(self, train: SplitView, val: SplitView, context: FitContext) -> dict[str, float]:
        """Fill the enrichment table from the training split; load or train the teacher
        (harness loop), freeze it, start the student from it."""
        metrics: dict[str, float] = {}
        if self.enrichment is not None:
            metrics.update(self.enrichment.fit(np.asarray(train.tokens)))
        if self.selector is not None and self.selector.prior is not None:
            metrics.update(self._fill_prior(train))
        if self.teacher is None:
            return metrics
        if self.params.teacher_checkpoint:
            path = Path(self.params.teacher_checkpoint)
            if not path.is_file():
                raise FileNotFoundError(f"teacher_checkpoint: no such file {path}")
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.teacher.load_state_dict(state)
            metrics["teacher_loaded"] = 1.0
        else:
            self.teacher.requires_grad_(True)
            result = context.fit(self.teacher, train, val)
            metrics["teacher_best_val"] = float(result.best_value)
            metrics["teacher_best_epoch"] = float(result.best_epoch)
        _freeze(self.teacher)
        missing, unexpected = self.load_state_dict(self.teacher.state_dict(), strict=False)
        student_only = ("selector.", "teacher.", "enrichment.")
        if unexpected or any(not k.startswith(student_only) for k in missing):
            raise RuntimeError(f"student/teacher mismatch: {missing}, {unexpected}")
        return metrics

    def _fill_prior(self, train: SplitView) -> dict[str, float]:
        """The selector's position prior from the training split (labels of no other split)."""
        assert self.selector is not None and self.selector.prior is not None
        per_base = base_association(np.asarray(train.tokens), train.labels, self.info.task)
        prior = token_log_prior(per_base, self.stem.pool, self.stem.kernel)
        prior = self.params.prior_weight * prior[: len(self.selector.prior)]
        self.selector.prior.copy_(torch.as_tensor(prior))
        return {"selector_prior_range": float(prior.max() - prior.min())}

    def on_epoch_start(self, epoch: int, n_epochs: int) -> dict[str, float]:
        if not self.sparse:
            return {}
        p = self.params
        self._forcing = p.selector_training in TEACHER_METHODS and epoch <= p.teacher_forcing_epochs
        progress = (epoch - 1) / max(n_epochs - 1, 1)
        self._tau = p.tau_start * (p.tau_end / p.tau_start) ** progress
        schedule = {"teacher_forcing": float(self._forcing)}
        if p.selector_training in ("gumbel_topk", "router"):
            schedule["tau"] = self._tau
        return schedule

    # ----------------------------------------------------------------------------- selection
    def n_kept(self, token_pad: torch.Tensor) -> torch.Tensor:
        """Tokens kept per sequence ``(B,)``: ``ceil(sparsity * real tokens)``, or
        ``min(keep_tokens, real tokens)`` with a fixed budget; at least one."""
        real = (~token_pad).sum(dim=1)
        if self.params.keep_tokens is not None:
            k = real.clamp(max=self.params.keep_tokens)
        else:
            share = self.params.sparsity or DEFAULT_SPARSITY
            k = torch.ceil(share * real.to(torch.float64) - 1e-9).long()
        return k.clamp(1, token_pad.shape[1])

    def _top_k(
        self, scores: torch.Tensor, token_pad: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept token indices ``(B, K)`` in ascending order and which of them count ``(B, K)``.

        ``K`` is the batch's largest ``n_kept``; a row that keeps fewer marks its extra (lowest
        scoring) tokens as not counted, and they are hidden from attention and pooling.
        """
        counts = self.n_kept(token_pad)
        ranked = _ranked(scores.detach(), int(counts.max()))
        counted = torch.arange(ranked.shape[1], device=scores.device) < counts.unsqueeze(1)
        indices, order = ranked.sort(dim=1)
        return indices, counted.gather(1, order)

    def selector_scores(
        self, features: torch.Tensor, token_pad: torch.Tensor, first: int = 0, prior: bool = True
    ) -> torch.Tensor:
        """Selector scores ``(B, T)`` of stem tokens ``first .. first + T - 1`` (gradients
        stopped at the stem's features); ``prior=False``: without the position prior."""
        assert self.selector is not None
        index = torch.arange(first, first + features.shape[1], device=features.device)
        return self.selector(features.detach(), token_pad, index, prior)

    def select(self, tokens: torch.Tensor) -> torch.Tensor:
        """Kept token indices ``(B, K)`` (ascending) for ``tokens``."""
        return self.select_counted(tokens)[0]

    def select_counted(
        self, tokens: torch.Tensor, explore: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept token indices ``(B, K)`` and which count, as :meth:`_top_k` would give from the
        whole sequence's scores, computed by streaming.

        The stem and selector run over ``select_chunk`` tokens at a time (plus the selector's
        one-token halo on each side, so every score is exactly what the whole-sequence pass
        gives) and a running top-k is merged with each chunk's scores: no tensor grows with the
        length except the input and its ``(B, T)`` padding mask. ``explore`` > 0 ranks by scores
        plus Gumbel noise of that scale (router training's exploration).
        """
        with torch.no_grad():
            token_pad = self.stem.token_padding(tokens)
            counts = self.n_kept(token_pad)
            k, n_tokens = int(counts.max()), token_pad.shape[1]
            chunk = self.params.select_chunk
            best: tuple[torch.Tensor, torch.Tensor] | None = None
            for first in range(0, n_tokens, chunk):
                stop = min(first + chunk, n_tokens)
                scores = self._window_scores(tokens, first, stop).float()
                if explore:
                    scores = scores + explore * noise(scores, "gumbel")
                index = torch.arange(first, stop, device=tokens.device).expand_as(scores)
                if best is not None:  # earlier (lower) indices first: ties resolve as one pass
                    scores, index = torch.cat([best[0], scores], 1), torch.cat([best[1], index], 1)
                order = _ranked(scores, min(k, scores.shape[1]))
                best = (scores.gather(1, order), index.gather(1, order))
            assert best is not None
            counted = torch.arange(k, device=tokens.device) < counts.unsqueeze(1)
            indices, order = best[1].sort(dim=1)
            return indices, counted.gather(1, order)

    def _window_scores(self, tokens: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        """Scores ``(B, stop - first)`` of tokens ``first .. stop - 1``, exactly as the whole
        sequence's pass gives them (the learned selector reads a one-token halo each side)."""
        if self.enrichment is not None:
            return self.enrichment.window(tokens, first, stop)
        assert self.selector is not None
        halo, n_tokens = self.selector.width // 2, self.stem.n_tokens(tokens.shape[1])
        lo, hi = max(first - halo, 0), min(stop + halo, n_tokens)
        features, pad = self.stem.window(tokens, lo, hi)
        return self.selector_scores(features, pad, lo)[:, first - lo : stop - lo]

    def selected_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Bases inside a kept token's receptive field: bool ``(B, L)`` (all True if not sparse)."""
        length = tokens.shape[1]
        if not self.sparse:
            return torch.ones_like(tokens, dtype=torch.bool)
        indices, counted = self.select_counted(tokens)
        first, last = self.stem.receptive_field(indices)
        span = torch.arange(int((last - first).max()) + 1, device=tokens.device)
        bases = first.unsqueeze(-1) + span  # (B, K, field): O(B K field), not a (B, K, L) test
        inside = (bases >= 0) & (bases < length) & counted.unsqueeze(-1)
        rows = torch.arange(len(tokens), device=tokens.device)[:, None, None].expand_as(bases)
        covered = torch.zeros_like(tokens, dtype=torch.bool)
        covered[rows[inside], bases[inside]] = True
        return covered

    # ------------------------------------------------------------------- computation on k tokens
    def _run_kept(
        self,
        features: torch.Tensor,
        token_pad: torch.Tensor,
        indices: torch.Tensor,
        counted: torch.Tensor,
    ) -> torch.Tensor:
        """Blocks, pooling and head over the kept tokens ``(B, K, d)`` at token ``indices``."""
        hidden = token_pad | ~counted
        return self.pool_head(self.encode(features, hidden, indices), hidden)

    def forward_selected(
        self, tokens: torch.Tensor, indices: torch.Tensor, counted: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Outputs computed from the kept tokens ``indices`` ``(B, K)`` alone.

        ``tokens`` is read once, by :meth:`ConvStem.gather` inside the kept tokens' receptive
        fields; everything after works on ``(B, K, ...)`` tensors.
        """
        features, token_pad = self.stem.gather(tokens, indices)
        if counted is None:
            counted = torch.ones_like(token_pad)
        return self._run_kept(features, token_pad, indices, counted)

    def _hard(
        self,
        features: torch.Tensor,
        token_pad: torch.Tensor,
        indices: torch.Tensor,
        counted: torch.Tensor,
    ) -> torch.Tensor:
        gather = indices.unsqueeze(-1).expand(-1, -1, features.shape[-1])
        kept = features.gather(1, gather)
        return self._run_kept(kept, token_pad.gather(1, indices), indices, counted)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Everything after the embedding (training-time selection in training mode; router
        training reads tokens, not embeddings: :meth:`forward`)."""
        features, token_pad = self.stem.from_embedded(embedded, tokens)
        if not self.sparse:
            positions = torch.arange(features.shape[1], device=tokens.device)
            return self.tokens_out(features, token_pad, positions)
        if self.enrichment is not None:
            scores = learned = self.enrichment.window(tokens, 0, features.shape[1])
        else:
            # the teacher's importance is distilled into the content score alone (distilled
            # with the prior, the content would learn to cancel it); ranking adds the prior
            learned = self.selector_scores(features, token_pad, prior=False)
            scores = self.selector.add_prior(learned)
        ranking = scores
        if self.training:
            method = self.params.selector_training
            if method in TEACHERLESS_METHODS:  # they train from tokens, see forward
                raise RuntimeError(f"{method} training runs through forward(tokens), not head")
            self._cache = SelectorCache(tokens, learned, token_pad)
            if method in ("dynamic", "gumbel_topk"):
                return self._soft_forward(features, token_pad, scores)
            self._cache.target = self._teacher_targets(tokens, token_pad)
            if self._forcing:
                ranking = self._cache.target.masked_fill(token_pad, float("-inf"))
        indices, counted = self._top_k(ranking, token_pad)
        return self._hard(features, token_pad, indices, counted)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.sparse and not self.training:
            # inference: streamed selection, then the kept tokens alone (light at any length)
            return self.forward_selected(tokens, *self.select_counted(tokens))
        if self.sparse and self.params.selector_training in TEACHERLESS_METHODS:
            return self._routed_forward(tokens)
        return self.head(self.embed(tokens), tokens)

    # ------------------------------------------------------------------------ evaluation
    def epoch_metrics(self, view: SplitView) -> dict[str, float]:
        """Selector recall of planted motifs (when ``view`` has ``motif_mask``), see the class."""
        mask = view.annotations.get("motif_mask")
        if mask is None or not self.sparse:
            return {}
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        covered = []
        for start in range(0, len(view.tokens), 512):
            x = torch.as_tensor(view.tokens[start : start + 512], dtype=torch.long, device=device)
            covered.append(self.selected_positions(x).cpu().numpy())
        self.train(was_training)
        return selector_recall(np.concatenate(covered), np.asarray(mask, dtype=bool))

    def evaluation_metrics(self, view: SplitView) -> dict[str, float]:
        return self.epoch_metrics(view)

    # ------------------------------------------------------------------------------ cost
    def macs_by_part(self, length: int) -> dict[str, int]:
        """Inference MACs by part, as the streamed inference runs: the learned selector's stem
        and selector pass over all tokens (the enrichment table is a lookup per base: no
        multiply-accumulates), the kept tokens' stem recomputed from their fields, the rest over
        k tokens."""
        if not self.sparse:
            return super().macs_by_part(length)
        n_tokens = self.stem.n_tokens(length)
        k = int(self.n_kept(torch.zeros(1, n_tokens, dtype=torch.bool))[0])
        attention, ffn = self._block_macs(k)
        kept_stem = self.stem.macs(k * self.stem.pool)
        learned = self.selector is not None
        parts = {
            "stem": kept_stem + (self.stem.macs(length) if learned else 0),
            ATTENTION_PART: attention,
            "ffn": ffn,
            "selector": self.selector.macs(n_tokens) if self.selector is not None else 0,
            "head": self.pool_head.macs(k),
        }
        return {"total": sum(parts.values()), **parts}


def _freeze(module: nn.Module) -> None:
    module.requires_grad_(False)
    module.eval()


def _ranked(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the ``k`` highest ``scores`` per row ``(B, k)``, ties broken by position
    (lowest first), so the top-k does not depend on how the sequence was chunked or on the
    device: the enrichment selector gives every token of an element the same score."""
    return scores.sort(dim=1, descending=True, stable=True).indices[:, :k]


def selector_recall(covered: np.ndarray, motif_mask: np.ndarray) -> dict[str, float]:
    """Recall of planted motifs by the kept tokens' receptive fields.

    Parameters
    ----------
    covered : bool (n, L), bases inside a kept token's receptive field
    motif_mask : bool (n, L), planted-motif bases (motifs are separated by at least one base)

    Returns
    -------
    dict with ``selector_recall`` (motif bases covered), ``selector_motif_recall`` (motifs wholly
    covered) and ``selector_coverage`` (all bases covered: a random selector's recall)
    """
    n_motif = int(motif_mask.sum())
    edges = np.diff(np.pad(motif_mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    # a motif is wholly covered iff none of its bases is uncovered: count uncovered via cumsum
    missing = np.pad(np.cumsum(~covered & motif_mask, axis=1), ((0, 0), (1, 0)))
    whole = (missing[rows, ends] - missing[rows, starts]) == 0
    return {
        "selector_recall": float((covered & motif_mask).sum() / n_motif) if n_motif else math.nan,
        "selector_motif_recall": float(whole.mean()) if len(whole) else math.nan,
        "selector_coverage": float(covered.mean()),
    }
