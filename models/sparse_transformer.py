"""The transformer with a learned token selector: attention, feed-forward and pooling run among the
top ``ceil(sparsity * T)`` stem tokens only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from harness.core.dataset import DatasetInfo, SplitView
from harness.core.model import ATTENTION_PART, FitContext
from harness.core.registry import register_model
from models.blocks import TokenScorer
from models.transformer import TransformerModel, TransformerParams

SelectorTraining = Literal["response", "attribution", "pooling", "dynamic", "gumbel_topk"]
TEACHER_METHODS = ("response", "attribution", "pooling")


class SparseTransformerParams(TransformerParams):
    sparsity: float = Field(
        0.1, gt=0, le=1, description="share of stem tokens kept: k = ceil(sparsity * tokens)"
    )
    selector_hidden: int = Field(32, ge=1, description="hidden channels of the selector conv")
    selector_training: SelectorTraining = Field(
        "response",
        description=(
            "response / attribution / pooling: selector distilled (KL) from a full teacher's"
            " single-token responses / input x gradient token attributions / attention-pooling"
            " weights, student trained on its hard top-k; dynamic: DynamicViT masked attention with"
            " Gumbel-sigmoid keep decisions; gumbel_topk: exact-k Gumbel top-k, straight-through,"
            " annealed temperature"
        ),
    )
    teacher: bool = Field(
        True,
        description="train a full transformer teacher first and start the student from its weights"
        " (required by response / attribution / pooling)",
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


@dataclass
class _Cache:
    """The last training forward's intermediates, reused by ``extra_loss`` for the same batch."""

    tokens: torch.Tensor
    scores: torch.Tensor
    token_pad: torch.Tensor
    keep: torch.Tensor | None = None  # soft keep decisions (dynamic, gumbel_topk)
    target: torch.Tensor | None = None  # the teacher's token importance (attribution, pooling)


def base_params(params: TransformerParams) -> TransformerParams:
    """The ``transformer`` parameters inside a sparse model's (the teacher's architecture)."""
    return TransformerParams(**{k: getattr(params, k) for k in TransformerParams.model_fields})


@register_model("sparse_transformer", SparseTransformerParams)
class SparseTransformerModel(TransformerModel):
    """``transformer`` whose blocks and pooling see only the top-k tokens of a learned selector.

    1. Stem (as ``transformer``) over all L bases -> T tokens.
    2. Selector: ``LN -> Conv1d(d, 32, 3) -> GELU -> Conv1d(32, 1, 1)`` over the stem tokens (each a
       12-bp pattern detector, seen with its two neighbours): a context-aware score per token.
    3. Keep the k = ceil(sparsity * T_real) highest-scoring tokens of each sequence (padding never
       outranks a real token; T_real counts non-padding tokens, so appending PAD changes nothing),
       gather them, and run the blocks (RoPE at their original indices), pooling and head on
       those k tokens only: attention costs O(k^2) instead of O(T^2).

    ``sparsity = 1`` builds exactly ``transformer``: no selector, no teacher, same state dict.

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
      student's features. Training costs a teacher fit plus the student's.
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

    Evaluation: ``selector_recall`` = share of planted-motif bases (``motif_mask``) inside a kept
    token's receptive field, ``selector_motif_recall`` = share of planted motifs wholly inside
    one, ``selector_coverage`` = share of all bases covered (the recall a random selector gets).
    """

    params: SparseTransformerParams
    role: ClassVar[str | None] = None  # a model under test, not the reference it inherits from

    def __init__(self, params: SparseTransformerParams, info: DatasetInfo) -> None:
        sparse = params.sparsity < 1.0
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
        self.teacher: TransformerModel | None = None
        if not self.sparse:
            return
        method = params.selector_training
        if method in TEACHER_METHODS and not params.teacher:
            raise ValueError(f"selector_training {method!r} distils from a teacher: teacher: true")
        self.selector = TokenScorer(params.d_model, params.selector_hidden)
        if teacher is not None:
            self.teacher = teacher
            _freeze(self.teacher)
        self._cache: _Cache | None = None
        self._forcing = False
        self._tau = params.tau_start

    # ------------------------------------------------------------------------------ training
    def train(self, mode: bool = True) -> SparseTransformerModel:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # a frozen teacher never runs dropout
        return self

    def prepare(self, train: SplitView, val: SplitView, context: FitContext) -> dict[str, float]:
        """Load or train the teacher (harness loop), freeze it, start the student from it."""
        if self.teacher is None:
            return {}
        metrics: dict[str, float] = {}
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
        if unexpected or any(not k.startswith(("selector.", "teacher.")) for k in missing):
            raise RuntimeError(f"student/teacher mismatch: {missing}, {unexpected}")
        return metrics

    def on_epoch_start(self, epoch: int, n_epochs: int) -> dict[str, float]:
        if not self.sparse:
            return {}
        p = self.params
        self._forcing = p.selector_training in TEACHER_METHODS and epoch <= p.teacher_forcing_epochs
        progress = (epoch - 1) / max(n_epochs - 1, 1)
        self._tau = p.tau_start * (p.tau_end / p.tau_start) ** progress
        schedule = {"teacher_forcing": float(self._forcing)}
        if p.selector_training == "gumbel_topk":
            schedule["tau"] = self._tau
        return schedule

    # ----------------------------------------------------------------------------- selection
    def n_kept(self, token_pad: torch.Tensor) -> torch.Tensor:
        """Tokens kept per sequence ``(B,)``: ``ceil(sparsity * real tokens)``, at least one."""
        real = (~token_pad).sum(dim=1).to(torch.float64)
        k = torch.ceil(self.params.sparsity * real - 1e-9).long()
        return k.clamp(1, token_pad.shape[1])

    def _top_k(
        self, scores: torch.Tensor, token_pad: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept token indices ``(B, K)`` in ascending order and which of them count ``(B, K)``.

        ``K`` is the batch's largest ``n_kept``; a row that keeps fewer marks its extra (lowest
        scoring) tokens as not counted, and they are hidden from attention and pooling.
        """
        counts = self.n_kept(token_pad)
        ranked = scores.detach().topk(int(counts.max()), dim=1).indices
        counted = torch.arange(ranked.shape[1], device=scores.device) < counts.unsqueeze(1)
        indices, order = ranked.sort(dim=1)
        return indices, counted.gather(1, order)

    def selector_scores(self, features: torch.Tensor, token_pad: torch.Tensor) -> torch.Tensor:
        """Selector scores ``(B, T)`` of stem tokens (gradients stopped at the stem's features)."""
        assert self.selector is not None
        return self.selector(features.detach(), token_pad)

    def select(self, tokens: torch.Tensor) -> torch.Tensor:
        """Kept token indices ``(B, K)`` (ascending) for ``tokens``."""
        return self.select_counted(tokens)[0]

    def select_counted(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept token indices ``(B, K)`` and which count, see :meth:`_top_k`."""
        with torch.no_grad():
            features, token_pad = self.stem(tokens)
            return self._top_k(self.selector_scores(features, token_pad), token_pad)

    def selected_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Bases inside a kept token's receptive field: bool ``(B, L)`` (all True if not sparse)."""
        length = tokens.shape[1]
        if not self.sparse:
            return torch.ones_like(tokens, dtype=torch.bool)
        indices, counted = self.select_counted(tokens)
        first, last = self.stem.receptive_field(indices)
        bases = torch.arange(length, device=tokens.device)[None, None, :]
        inside = (bases >= first.unsqueeze(-1)) & (bases <= last.unsqueeze(-1))
        return (inside & counted.unsqueeze(-1)).any(dim=1)

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
        """Everything after the embedding (training-time selection in training mode)."""
        features, token_pad = self.stem.from_embedded(embedded, tokens)
        if not self.sparse:
            positions = torch.arange(features.shape[1], device=tokens.device)
            return self.tokens_out(features, token_pad, positions)
        scores = self.selector_scores(features, token_pad)
        ranking = scores
        if self.training:
            self._cache = _Cache(tokens, scores, token_pad)
            method = self.params.selector_training
            if method in ("dynamic", "gumbel_topk"):
                return self._soft_forward(features, token_pad, scores)
            self._cache.target = self._teacher_targets(tokens, token_pad)
            if self._forcing:
                ranking = self._cache.target.masked_fill(token_pad, float("-inf"))
        indices, counted = self._top_k(ranking, token_pad)
        return self._hard(features, token_pad, indices, counted)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens), tokens)

    # ------------------------------------------------------------- differentiable selection
    def _soft_forward(
        self, features: torch.Tensor, token_pad: torch.Tensor, scores: torch.Tensor
    ) -> torch.Tensor:
        """All tokens, dropped ones masked out through keep decisions that carry gradient."""
        scores = scores.float()
        logistic = _noise(scores, "logistic")
        if self.params.selector_training == "dynamic":
            soft = torch.sigmoid(scores + logistic)
            hard = (soft > 0.5).to(soft.dtype)
        else:
            perturbed = scores + _noise(scores, "gumbel")
            counts = self.n_kept(token_pad)
            ordered = perturbed.detach().sort(dim=1, descending=True).values
            kth = ordered.gather(1, (counts - 1).unsqueeze(1))
            nxt = ordered.gather(1, counts.clamp(max=ordered.shape[1] - 1).unsqueeze(1))
            threshold = (kth + nxt.clamp_min(-1e4)) / 2
            soft = torch.sigmoid((perturbed - threshold) / self._tau)
            hard = (perturbed >= kth).to(soft.dtype)
        soft = soft.masked_fill(token_pad, 0.0)
        keep = hard.masked_fill(token_pad, 0.0) + soft - soft.detach()
        assert self._cache is not None
        self._cache.keep = soft
        positions = torch.arange(features.shape[1], device=features.device)
        encoded = self.encode(features, token_pad, positions, keep)
        return self.pool_head(encoded, token_pad, keep)

    # ---------------------------------------------------------------------------- losses
    def _teacher_targets(self, tokens: torch.Tensor, token_pad: torch.Tensor) -> torch.Tensor:
        """Teacher's token importance ``(B, T)``: attribution or pooling weight (0 at padding)."""
        teacher = self.teacher
        assert teacher is not None
        method = self.params.selector_training
        if method == "pooling":
            with torch.no_grad():
                return teacher.pooling_weights(tokens)
        if method == "response":
            with torch.no_grad():
                # the median in float32, whatever precision autocast ran in
                alone = teacher.single_token_outputs(tokens).float()
                background = alone.nanmedian(dim=1, keepdim=True).values
                return (alone - background).norm(dim=-1).nan_to_num(0.0)
        with torch.enable_grad():
            features, pad = teacher.stem(tokens)
            features = features.detach().requires_grad_(True)
            positions = torch.arange(features.shape[1], device=tokens.device)
            out = teacher.tokens_out(features, pad, positions)
            if out.dim() == 2:  # multiclass: the predicted class's logit
                out = out.gather(1, out.argmax(dim=1, keepdim=True))
            (grad,) = torch.autograd.grad(out.sum(), features)
        return (grad * features).sum(dim=-1).abs().detach().masked_fill(token_pad, 0.0)

    def extra_loss(
        self, tokens: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        cache, self._cache = self._cache, None
        if cache is None or cache.tokens is not tokens:
            return {}
        p, losses = self.params, {}
        if cache.target is not None:
            target = cache.target / cache.target.sum(dim=1, keepdim=True).clamp_min(1e-12)
            log_p = F.log_softmax(cache.scores, dim=1).masked_fill(cache.token_pad, 0.0)
            losses["selector"] = -p.selector_weight * (target * log_p).sum(dim=1).mean()
        if p.selector_training == "dynamic" and cache.keep is not None:
            real = (~cache.token_pad).sum(dim=1).clamp_min(1)
            ratio = cache.keep.sum(dim=1) / real
            losses["keep_ratio"] = p.ratio_weight * ((ratio - p.sparsity) ** 2).mean()
        if p.output_distill_weight and self.teacher is not None:
            with torch.no_grad():
                teacher_out = self.teacher(tokens)
            losses["output_distill"] = p.output_distill_weight * _output_distance(
                self.info.task, outputs, teacher_out
            )
        return losses

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
        """Inference MACs by part: stem and selector over all tokens, the rest over k."""
        if not self.sparse:
            return super().macs_by_part(length)
        assert self.selector is not None
        n_tokens = self.stem.n_tokens(length)
        k = int(self.n_kept(torch.zeros(1, n_tokens, dtype=torch.bool))[0])
        attention, ffn = self._block_macs(k)
        parts = {
            "stem": self.stem.macs(length),
            ATTENTION_PART: attention,
            "ffn": ffn,
            "selector": self.selector.macs(n_tokens),
            "head": self.pool_head.macs(k),
        }
        return {"total": sum(parts.values()), **parts}


def _freeze(module: nn.Module) -> None:
    module.requires_grad_(False)
    module.eval()


def _noise(like: torch.Tensor, kind: str) -> torch.Tensor:
    """Logistic (difference of two Gumbels) or Gumbel noise shaped like ``like``."""
    # float32 even under bf16 autocast, where 1 - 1e-6 would round to 1 and the log to -inf
    u = torch.rand(like.shape, device=like.device).clamp(1e-6, 1 - 1e-6)
    return torch.log(u) - torch.log1p(-u) if kind == "logistic" else -torch.log(-torch.log(u))


def _output_distance(task: str, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """MSE of values (regression), KL of class probabilities (classification)."""
    if task == "regression":
        return F.mse_loss(student, teacher)
    if task == "binary":
        return F.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher))
    return F.kl_div(
        F.log_softmax(student, -1),
        F.log_softmax(teacher, -1),
        log_target=True,
        reduction="batchmean",
    )


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
