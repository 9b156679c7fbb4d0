"""AttnGen (§IV): a CNN trained with embedding-mean importance, masking of the least important
positions and a consistency term between predictions on the original and the masked input."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from harness.core.dataset import PAD_TOKEN, DatasetInfo
from harness.core.model import SequenceModel
from harness.core.registry import Params, register_model
from models.layers import ConvBlockSpec, ConvBlockStack, linear_macs, pad_right, squeeze_outputs


def least_important_positions(
    importance: torch.Tensor, k: int, tiebreak: torch.Tensor | None = None
) -> torch.Tensor:
    """The ``k`` least important positions per row (eq. 4): ``(B, L) -> (B, k)``.

    Ties (AttnGen's importance ties whenever two positions hold the same base) are broken by
    ``tiebreak`` (B, L), smaller first, when given, else by position, smaller first.
    """
    order = torch.arange(importance.shape[1], device=importance.device).expand_as(importance)
    if tiebreak is not None:
        order = tiebreak.argsort(dim=1, stable=True)
    ranked = importance.gather(1, order).argsort(dim=1, stable=True)
    return order.gather(1, ranked[:, :k])


def mask_least_important(
    tokens: torch.Tensor,
    importance: torch.Tensor,
    k: int,
    pad_token: int = PAD_TOKEN,
    tiebreak: torch.Tensor | None = None,
) -> torch.Tensor:
    """A copy of ``tokens (B, L)`` with the ``k`` least important positions per row set to
    ``pad_token``; ``importance`` is ``(B, L)``. Pure: the inputs are not modified."""
    if k <= 0:
        return tokens.clone()
    positions = least_important_positions(importance, k, tiebreak)
    return tokens.scatter(1, positions, pad_token)


def consistency(task: str, original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """``KL(p(x) || p(x_masked))`` averaged over the batch.

    Binary: between the two Bernoulli distributions of the logits. Multiclass: between the two
    softmax distributions. Regression has no predictive distribution, so the term is the mean
    squared difference of the two outputs (a Gaussian KL with a fixed variance, up to a factor).
    """
    if task == "binary":
        log_p, log_1mp = nn.functional.logsigmoid(original), nn.functional.logsigmoid(-original)
        log_q, log_1mq = nn.functional.logsigmoid(masked), nn.functional.logsigmoid(-masked)
        kl = log_p.exp() * (log_p - log_q) + log_1mp.exp() * (log_1mp - log_1mq)
        return kl.mean()
    if task == "multiclass":
        log_p = torch.log_softmax(original, dim=-1)
        log_q = torch.log_softmax(masked, dim=-1)
        return (log_p.exp() * (log_p - log_q)).sum(dim=-1).mean()
    return nn.functional.mse_loss(masked, original)


class AttnGenParams(Params):
    embed_dim: int = Field(128, ge=1, description="token embedding width (paper: 128)")
    channels: tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        (32, 16, 4), description="output channels of the three conv blocks (paper: 32, 16, 4)"
    )
    kernel: int = Field(8, ge=1, description="convolution kernel size (paper: 8)")
    hidden: int = Field(32, ge=1, description="width of the first dense layer")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout of the dense layers (paper: 0.3)")
    mask_ratio: float = Field(
        0.1, ge=0, lt=1, description="alpha: k = floor(alpha * L) positions masked in training"
    )
    kl_weight: float = Field(0.1, ge=0, description="lambda: weight of the consistency term")
    masking: Literal["attention", "random"] = Field(
        "attention", description="mask the least important positions, or random ones (ablation)"
    )
    task_input: Literal["original", "masked"] = Field(
        "original",
        description="input of the task loss in training: the original sequence (paper eq.) "
        "or the masked one (saliency-guided training)",
    )


@register_model("attngen", AttnGenParams)
class AttnGenModel(SequenceModel):
    """AttnGen CNN with attention-guided masking and KL consistency (mask_ratio 0 = plain CNN).

    Base classifier (§IV-A): ``Embedding(6, 128)`` (PAD fixed at zero) -> 3 x [Conv1d(k8),
    BatchNorm, ReLU, MaxPool(2)] with channels 128->32->16->4 -> flatten -> ``Linear(flat, 32)``,
    ReLU, dropout 0.3 -> ``Linear(32, out)``. Importance (eq. 1-2): ``A = softmax_i(mean_j
    E[x_i, j])``. Training (Alg. 1): the ``k = floor(alpha L)`` least important positions of each
    sequence are replaced by PAD, and the loss is ``task + lambda * KL(p(x) || p(x_masked))``
    (:func:`consistency`; regression uses the MSE between the two outputs). Inference and
    evaluation see the unmasked sequence.

    Weakness worth knowing: the importance is a function of the token embedding only, so it
    ranks positions by base identity (every A has the same score, etc.); which positions of the
    least favoured base get masked is decided by ties, broken at random here. It cannot express
    that a base matters because of its context. Implemented as published anyway.

    Changes from the paper: it masks with "the padding token (index 0)", which is A in this
    encoding; we mask with PAD (5), whose embedding is fixed at zero. Ties are broken uniformly
    at random instead of by position (a positional tie-break would always mask the first
    occurrences). With ``task_input="original"`` (the paper's equation) and ``kl_weight=0`` the
    objective is exactly the unmasked baseline, which contradicts the paper's Table III where
    "attention masking without KL" differs from the baseline; the ``attngen_no_kl`` registration
    therefore trains the task loss on the masked input, the reading under which that ablation
    means something. Sequences shorter than the conv stack needs (57) are right-padded with PAD.

    Reported importance: the softmax weights ``A`` (eq. 2), shape (B, L).
    """

    reproduces: ClassVar[str | None] = "attngen-paper.md"

    def __init__(self, params: AttnGenParams, info: DatasetInfo) -> None:
        super().__init__(info)
        self.params = params
        c1, c2, c3 = params.channels
        k = params.kernel
        self.embedding = nn.Embedding(info.vocab_size, params.embed_dim, padding_idx=info.pad_token)
        self.convs = ConvBlockStack(
            [
                ConvBlockSpec(params.embed_dim, c1, k, relu=True),
                ConvBlockSpec(c1, c2, k, relu=True),
                ConvBlockSpec(c2, c3, k, relu=True),
            ]
        )
        self.input_length = max(info.length, self.convs.min_length())
        self.flat_dim = c3 * self.convs.output_length(self.input_length)
        self.dense = nn.Sequential(
            nn.Linear(self.flat_dim, params.hidden),
            nn.ReLU(),
            nn.Dropout(params.dropout),
            nn.Linear(params.hidden, info.n_outputs),
        )

    def n_masked(self, length: int) -> int:
        """``k = floor(alpha * L)`` (eq. 3)."""
        # the epsilon stops float noise from losing a position: 0.29 * 100 = 28.999999999999996
        return int(self.params.mask_ratio * length + 1e-9)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``(B, L, d)``."""
        return self.embedding(tokens)

    def head(self, embedded: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Convolutions and dense layers: ``(B, L, d) -> (B,)`` or ``(B, C)``."""
        x = pad_right(embedded, self.input_length, 0.0).transpose(1, 2)
        return squeeze_outputs(self.dense(self.convs(x).flatten(1)))

    def _classify(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens), tokens)

    def attention_importance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Eq. 1-2: softmax over positions of the embedding mean, ``(B, L)``."""
        return torch.softmax(self.embedding(tokens).mean(dim=-1), dim=1)

    def masked_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The training-time masked input: PAD at ``floor(alpha L)`` positions per sequence."""
        k = self.n_masked(tokens.shape[1])
        tiebreak = torch.rand(tokens.shape, device=tokens.device)
        if self.params.masking == "random":
            scores = torch.zeros(tokens.shape, device=tokens.device)
        else:
            with torch.no_grad():
                scores = self.attention_importance(tokens)
        return mask_least_important(tokens, scores, k, self.info.pad_token, tiebreak)

    def _masking_active(self, tokens: torch.Tensor) -> bool:
        return self.training and self.n_masked(tokens.shape[1]) > 0

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Predictions; in training with ``task_input="masked"`` they are on the masked input."""
        if self._masking_active(tokens) and self.params.task_input == "masked":
            return self._classify(self.masked_tokens(tokens))
        return self._classify(tokens)

    def extra_loss(
        self, tokens: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``kl_weight * consistency(p(x), p(x_masked))``; nothing when alpha or lambda is 0."""
        if not self._masking_active(tokens) or self.params.kl_weight == 0:
            return {}
        if self.params.task_input == "masked":
            original, masked = self._classify(tokens), outputs
        else:
            original, masked = outputs, self._classify(self.masked_tokens(tokens))
        return {"kl": self.params.kl_weight * consistency(self.info.task, original, masked)}

    def importance(self, tokens: torch.Tensor) -> torch.Tensor:
        """The model's own importance ``A`` (eq. 2): ``(B, L)``, each row sums to one."""
        with torch.no_grad():
            return self.attention_importance(tokens)

    def macs(self, length: int) -> int:
        """Inference only (no masking): convolutions (+ batch-norm scale) and the dense layers."""
        padded = max(length, self.convs.min_length())
        flat = self.params.channels[-1] * self.convs.output_length(padded)
        dense = linear_macs(flat, self.params.hidden)
        dense += linear_macs(self.params.hidden, self.info.n_outputs)
        return self.convs.macs(padded) + dense


class AttnGenRandomKLParams(AttnGenParams):
    masking: Literal["attention", "random"] = Field(
        "random", description="random positions are masked (Table III ablation)"
    )


@register_model("attngen_random_kl", AttnGenRandomKLParams)
class AttnGenRandomKL(AttnGenModel):
    """AttnGen ablation (Table III): random masking with KL consistency."""


class AttnGenNoKLParams(AttnGenParams):
    kl_weight: float = Field(0.0, ge=0, description="lambda: no consistency term (ablation)")
    task_input: Literal["original", "masked"] = Field(
        "masked",
        description="task loss on the masked input; with the original input and no KL this "
        "ablation would be the plain CNN",
    )


@register_model("attngen_no_kl", AttnGenNoKLParams)
class AttnGenNoKL(AttnGenModel):
    """AttnGen ablation (Table III): attention masking, no KL; the task loss sees masked input."""
