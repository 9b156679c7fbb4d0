"""Where in an aligned sequence the label is decided: a per-token prior for the sparse selector.

On sequences aligned on a landmark (promoters centred on the TSS) a token's *position* says much
of whether it matters: the TATA box sits ~30 bp upstream in every positive. A selector that reads
only local content cannot know that. This prior is the univariate association of each base
position with the label on the training split (chi-squared of the one-hot columns against the
class, or n r^2 against a regression target, summed over A/C/G/T), summed over each
token's receptive field, as a log ratio to the mean token: a fixed, label-derived filter that
the selector's learned content score is added to. Unaligned data (motifs at random positions)
gives a flat prior, so it changes little there.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_selection import chi2, r_regression

from models.onehot_linear import onehot_features


def base_association(tokens: np.ndarray, labels: np.ndarray, task: str) -> np.ndarray:
    """Association of each base position with the label.

    Parameters
    ----------
    tokens : uint8 (n, L), A=0 C=1 G=2 T=3 (N and PAD carry no feature)
    labels : (n,) class indices (binary / multiclass) or values (regression)
    task : "binary", "multiclass" or "regression"

    Returns
    -------
    float64 (L,): chi-squared (classification) or n r^2 (regression) of the position's four
    one-hot columns, summed; 0 where a column is constant.
    """
    features = onehot_features(tokens)
    if task == "regression":  # n r^2: the score test's chi-squared (F is unbounded at r = 1)
        r = r_regression(features, np.asarray(labels, dtype=np.float64))
        statistic = len(labels) * np.nan_to_num(r) ** 2
    else:
        statistic, _ = chi2(features, np.asarray(labels))
    return np.nan_to_num(statistic).reshape(-1, 4).sum(axis=1)


def token_log_prior(per_base: np.ndarray, pool: int, kernel: int) -> np.ndarray:
    """Per-token log prior from per-base association.

    Parameters
    ----------
    per_base : (L,) association of each base position (:func:`base_association`)
    pool : bases per token; kernel : the stem convolution's width, so token ``t`` reads bases
        ``t*pool - kernel//2 .. t*pool + pool - 1 + kernel//2`` (clipped to the sequence)

    Returns
    -------
    float32 (ceil(L / pool),): ``log(field sum / mean field sum)``; 0 everywhere when no
    position is associated with the label.
    """
    length = len(per_base)
    n_tokens = -(-length // pool)
    cumulative = np.concatenate([[0.0], np.cumsum(per_base)])
    first = np.clip(np.arange(n_tokens) * pool - kernel // 2, 0, length)
    stop = np.clip(np.arange(n_tokens) * pool + pool + kernel // 2, 0, length)
    field = cumulative[stop] - cumulative[first]
    if field.sum() <= 0:
        return np.zeros(n_tokens, dtype=np.float32)
    floor = 1e-3 * field.mean()  # a token with no association is unlikely, not impossible
    return np.log(np.maximum(field, floor) / field.mean()).astype(np.float32)
