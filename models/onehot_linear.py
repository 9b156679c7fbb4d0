"""Position-aware linear baseline: logistic (or ridge) regression on the one-hot sequence.

Every (position, nucleotide) pair is one feature, so the model can read a motif at a fixed
offset (a TATA box ~30 bp upstream of a TSS) but not a motif that moves. On promoter sets aligned
on the TSS this simple model is strong, and a report that omits it overstates the deep models.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from harness.core.registry import register_model
from models.linear import LinearOnFeatures, LinearParams


class OnehotLinearParams(LinearParams):
    """L2 strength and its selection on validation (see :class:`LinearParams`)."""


def onehot_features(tokens: np.ndarray) -> sparse.csr_matrix:
    """Sparse one-hot design matrix.

    Parameters
    ----------
    tokens : uint8 (n, L) over A=0 C=1 G=2 T=3 (N and PAD get no feature: an all-zero block)

    Returns
    -------
    csr_matrix (n, 4 * L): column ``4 * position + base`` is 1 where the sequence has ``base``
    at ``position``.
    """
    tokens = np.asarray(tokens)
    n, length = tokens.shape
    valid = tokens < 4
    rows = np.broadcast_to(np.arange(n)[:, None], tokens.shape)[valid]
    cols = (4 * np.arange(length)[None, :] + np.where(valid, tokens, 0))[valid]
    data = np.ones(len(rows), dtype=np.float64)
    return sparse.csr_matrix((data, (rows, cols)), shape=(n, 4 * length))


@register_model("onehot_linear", OnehotLinearParams)
class OnehotLinear(LinearOnFeatures):
    """One-hot (position x nucleotide) features + L2 logistic regression (ridge for regression),
    ``C`` chosen on the validation split by the task's primary metric.

    Importance is exact: the decision function is ``b + sum over positions of
    beta[position, base]``, so a position's contribution is the coefficient of the base it holds
    (absolute value; multiclass: the L2 norm over classes).
    """

    role = "baseline"  # the position-aware linear bar a deep model must clear on aligned data

    def _features(self, tokens: np.ndarray) -> sparse.csr_matrix:
        return onehot_features(tokens)

    def importance(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens)
        length = tokens.shape[1]
        coef = self._coefficients().reshape(length, 4, -1)  # (L, 4, rows)
        valid = tokens < 4
        picked = coef[np.arange(length)[None, :], np.where(valid, tokens, 0)]  # (n, L, rows)
        return np.linalg.norm(picked * valid[..., None], axis=-1)

    def macs(self, length: int) -> int:
        """One coefficient lookup-accumulate per position and output row."""
        rows = self.info.n_outputs if self.info.task == "multiclass" else 1
        return length * rows
