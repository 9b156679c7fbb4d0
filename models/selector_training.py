"""How ``sparse_transformer`` trains its selector: the differentiable and teacher-guided
training paths and their losses (methods in :class:`SelectorTrainingMixin`, see the model's
docstring for what each ``selector_training`` does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F


@dataclass
class SelectorCache:
    """The last training forward's intermediates, reused by ``extra_loss`` for the same batch."""

    tokens: torch.Tensor
    scores: torch.Tensor
    token_pad: torch.Tensor
    keep: torch.Tensor | None = None  # soft keep decisions (dynamic, gumbel_topk)
    # the teacher's token importance (response, attribution, pooling)
    target: torch.Tensor | None = None


class SelectorTrainingMixin:
    """Training-time selection for :class:`~models.sparse_transformer.SparseTransformerModel`,
    which provides everything these methods read (its params, stem, selector, teacher, blocks,
    pooling head and top-k selection)."""

    params: Any
    _cache: SelectorCache | None
    _tau: float

    def _soft_forward(
        self, features: torch.Tensor, token_pad: torch.Tensor, scores: torch.Tensor
    ) -> torch.Tensor:
        """All tokens, dropped ones masked out through keep decisions that carry gradient."""
        scores = scores.float()
        logistic = noise(scores, "logistic")
        if self.params.selector_training == "dynamic":
            soft = torch.sigmoid(scores + logistic)
            hard = (soft > 0.5).to(soft.dtype)
        else:
            perturbed = scores + noise(scores, "gumbel")
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

    def _routed_forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Router training (Mixture-of-Depths, Raposo et al. 2024).

        The streamed top-k of scores perturbed by Gumbel noise of scale tau (exploration,
        annealed as in ``gumbel_topk``) is computed without gradient; the kept tokens are then
        recomputed from their receptive fields (:meth:`ConvStem.gather`, so the stem learns from
        them alone) and multiplied by ``1 + g - stop_grad(g)`` with ``g = sigmoid(score)``: the
        value is unchanged, so inference needs no score and stays local, and the score learns
        whether amplifying its token lowers the loss. Time and memory grow with k, apart from
        the gradient-free streamed selection.
        """
        if self.selector is None:  # enrichment: fixed scores, nothing to explore or learn
            return self.forward_selected(tokens, *self.select_counted(tokens))
        indices, counted = self.select_counted(tokens, explore=self._tau)
        features, token_pad = self.stem.gather(tokens, indices)
        g = torch.sigmoid(self.kept_scores(tokens, indices))
        # + x (g - g): exactly x in value at any precision (1 + g - g in bf16 is not 1)
        kept = features + features * (g - g.detach()).unsqueeze(-1)
        return self._run_kept(kept, token_pad, indices, counted)

    def kept_scores(self, tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Selector scores ``(B, K)`` of tokens ``indices``, with the selector's gradient.

        Each is computed from the stem features (no gradient) of the token and its neighbours
        inside the selector's window, gathered from their receptive fields: equal to the
        whole-sequence scores at ``indices``, at a cost that grows with K, not the length.
        """
        assert self.selector is not None
        halo = self.selector.width // 2
        n_tokens = self.stem.n_tokens(tokens.shape[1])
        near = indices.unsqueeze(-1) + torch.arange(-halo, halo + 1, device=tokens.device)
        with torch.no_grad():
            features, pad = self.stem.gather(tokens, near.clamp(0, n_tokens - 1).flatten(1))
        # a neighbour beyond the ends is the selector convolution's zero padding
        pad = pad.view_as(near) | (near < 0) | (near >= n_tokens)
        windows = features.view(*near.shape, -1).flatten(0, 1)  # (B*K, width, d)
        scores = self.selector(windows, pad.flatten(0, 1), near.flatten(0, 1))[:, halo]
        return scores.view(indices.shape)

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
            wanted = self.n_kept(cache.token_pad) / real  # sparsity, or the token budget's share
            losses["keep_ratio"] = p.ratio_weight * ((ratio - wanted) ** 2).mean()
        if p.output_distill_weight and self.teacher is not None:
            with torch.no_grad():
                teacher_out = self.teacher(tokens)
            losses["output_distill"] = p.output_distill_weight * output_distance(
                self.info.task, outputs, teacher_out
            )
        return losses


def noise(like: torch.Tensor, kind: str) -> torch.Tensor:
    """Logistic (difference of two Gumbels) or Gumbel noise shaped like ``like``."""
    # float32 even under bf16 autocast, where 1 - 1e-6 would round to 1 and the log to -inf
    u = torch.rand(like.shape, device=like.device).clamp(1e-6, 1 - 1e-6)
    return torch.log(u) - torch.log1p(-u) if kind == "logistic" else -torch.log(-torch.log(u))


def output_distance(task: str, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
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
