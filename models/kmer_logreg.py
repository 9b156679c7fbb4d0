"""k-mer count features with a linear model: the classical baseline every neural variant should
beat."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field
from scipy import sparse

from harness.core.registry import register_model
from models.linear import LinearOnFeatures, LinearParams


class KmerLogRegParams(LinearParams):
    k: int = Field(6, ge=1, le=10, description="k-mer length")
    both_strands: bool = Field(
        True, description="count a k-mer and its reverse complement as one feature"
    )


@lru_cache(maxsize=16)
def feature_ids(k: int, both_strands: bool) -> tuple[np.ndarray, int]:
    """Column of every raw k-mer id ``[0, 4^k)`` and the number of columns.

    With ``both_strands`` a k-mer and its reverse complement share a column, so there are
    ``(4^k + 4^(k/2)) / 2`` columns (palindromes, only for even k, have no partner).
    """
    raw = np.arange(4**k, dtype=np.int64)
    if not both_strands:
        return raw, 4**k
    digits = (raw[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4
    reverse = (3 - digits[:, ::-1]) @ (4 ** np.arange(k - 1, -1, -1))
    canonical = np.minimum(raw, reverse)
    columns, ids = np.unique(canonical, return_inverse=True)
    return ids.astype(np.int64), len(columns)


def kmer_windows(tokens: np.ndarray, k: int, both_strands: bool) -> tuple[np.ndarray, np.ndarray]:
    """Feature index of every length-``k`` window.

    Parameters
    ----------
    tokens : uint8 (n, L) over A=0 C=1 G=2 T=3 (N, PAD make a window invalid)

    Returns
    -------
    index : int64 (n, L - k + 1), feature column of the window's k-mer (see :func:`feature_ids`)
    valid : bool (n, L - k + 1), window holds only A, C, G, T
    """
    n, length = tokens.shape
    if length < k:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=bool)
    windows = sliding_window_view(tokens.astype(np.int64), k, axis=1)  # (n, W, k)
    valid = (windows < 4).all(axis=-1)
    bases = np.where(windows < 4, windows, 0)
    weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    ids, _ = feature_ids(k, both_strands)
    return ids[bases @ weights], valid


def kmer_counts(tokens: np.ndarray, k: int, both_strands: bool) -> sparse.csr_matrix:
    """Sparse ``(n, n_features)`` matrix of k-mer counts (windows with N or PAD are skipped)."""
    index, valid = kmer_windows(tokens, k, both_strands)
    _, n_features = feature_ids(k, both_strands)
    rows = np.broadcast_to(np.arange(len(tokens))[:, None], index.shape)
    data = np.ones(int(valid.sum()), dtype=np.float64)
    matrix = sparse.csr_matrix(
        (data, (rows[valid], index[valid])), shape=(len(tokens), n_features), dtype=np.float64
    )
    matrix.sum_duplicates()
    return matrix


@register_model("kmer_logreg", KmerLogRegParams)
class KmerLogReg(LinearOnFeatures):
    """k-mer counts + logistic regression (binary/multiclass) or ridge (regression).

    Features: counts of all 4^k k-mers, a k-mer and its reverse complement sharing one feature
    when ``both_strands`` (2,080 features for k = 6); windows with N or PAD are skipped. ``C``
    is optionally chosen on the validation split by the task's primary metric.

    Importance: the linear decision function is ``b + sum over windows of beta[kmer(window)]``;
    giving each window's coefficient in equal shares ``beta / k`` to the k positions it covers
    decomposes it exactly into per-position contributions, whose absolute value is reported
    (multiclass: the L2 norm over classes).
    """

    params: KmerLogRegParams

    def _features(self, tokens: np.ndarray) -> sparse.csr_matrix:
        return kmer_counts(np.asarray(tokens), self.params.k, self.params.both_strands)

    def importance(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens)
        n, length = tokens.shape
        k = self.params.k
        index, valid = kmer_windows(tokens, k, self.params.both_strands)
        coef = self._coefficients()
        window_coef = coef[index] * valid[..., None] / k  # (n, W, rows)
        contribution = np.zeros((n, length, coef.shape[1]))
        for offset in range(k):  # a window starting at j covers positions j .. j + k - 1
            contribution[:, offset : offset + index.shape[1]] += window_coef
        return np.linalg.norm(contribution, axis=-1)

    def macs(self, length: int) -> int:
        """Per window: k MACs to compute the k-mer id (twice with the reverse strand), then one
        coefficient lookup-accumulate per output row."""
        windows = max(length - self.params.k + 1, 0)
        rows = self.info.n_outputs if self.info.task == "multiclass" else 1
        per_window = self.params.k * (2 if self.params.both_strands else 1) + rows
        return windows * per_window
