"""A leaderboard across a study's tasks (datasets): per-task scores and ranks, mean rank, and a
Friedman test with post-hoc pairwise comparisons over tasks (Demšar 2006).

Tasks, not seeds, are the replicates here: the question is whether a model ranks better than
another *across tasks*. Each task is scored by its own primary metric
(:data:`harness.core.metrics.PRIMARY`; direction: :data:`harness.core.metrics.LOWER_IS_BETTER`),
its mean over seeds with the bounded t interval of :func:`harness.analysis.intervals.mean_ci`.

- rank per task: 1 = best, ties share the average rank;
- mean rank per model over the tasks it ran on;
- Friedman's chi-square on the models that ran on every task (scipy), the Nemenyi critical
  difference and pairwise Nemenyi p-values (studentized range, scipy), and the Wilcoxon
  signed-rank test over tasks per pair with Holm's correction (statsmodels).

Power is low with few tasks, and the figures say so (:func:`power_note`): the exact two-sided
Wilcoxon p over N tasks is at least 2 / 2**N (0.125 for N = 4, so no pair can reach 0.05 below six
tasks), and Nemenyi separates two models only when their mean ranks differ by the critical
difference, which for 4 tasks is more than 2 ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.analysis.intervals import mean_ci, metric_bounds
from harness.analysis.multiple_testing import adjust_pvalues
from harness.core.metrics import LOWER_IS_BETTER

SCORE_COLUMNS = ["dataset", "model", "seed", "metric", "value"]
TABLE_COLUMNS = ["dataset", "model", "metric", "mean", "ci_lo", "ci_hi", "seeds", "rank"]
RANK_COLUMNS = ["model", "mean_rank", "tasks", "wins", "test_rank"]
PAIR_COLUMNS = [
    "model_a",
    "model_b",
    "rank_diff",
    "nemenyi_p",
    "wilcoxon_p",
    "wilcoxon_p_holm",
    "tasks",
]


@dataclass
class Leaderboard:
    """The leaderboard's tables.

    Attributes
    ----------
    table : one row per task x model, columns :data:`TABLE_COLUMNS` (``rank`` 1 = best)
    ranks : one row per model, best mean rank first, columns :data:`RANK_COLUMNS`
        (``mean_rank`` over the tasks it ran on, ranked among every model there; ``test_rank``
        the same among the models of the Friedman test, NaN for a model left out of it)
    pairs : one row per pair of tested models, columns :data:`PAIR_COLUMNS` (``rank_diff`` =
        mean rank of b minus a; a positive value means a ranks better)
    test : Friedman and Nemenyi figures (``tasks``, ``models``, ``friedman_chi2``,
        ``friedman_p``, ``alpha``, ``critical_difference``, ``groups``: lists of models no pair
        of which differs by the critical difference, ``min_wilcoxon_p``, ``note``)
    """

    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TABLE_COLUMNS))
    ranks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RANK_COLUMNS))
    pairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PAIR_COLUMNS))
    test: dict[str, Any] = field(default_factory=dict)


def oriented(values: np.ndarray, metric: str) -> np.ndarray:
    """``values`` turned so that larger is better (negated for a lower-is-better metric)."""
    values = np.asarray(values, dtype=np.float64)
    return -values if metric in LOWER_IS_BETTER else values


def task_table(scores: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and interval over seeds per task x model, and the rank within each task.

    Parameters
    ----------
    scores : long rows, columns :data:`SCORE_COLUMNS`: one per (dataset, model, seed) with the
        dataset's primary test metric; tasks and models keep their order of first appearance

    Returns
    -------
    DataFrame, columns :data:`TABLE_COLUMNS`; ``rank`` NaN where the mean is NaN (a model whose
    every seed failed to score), ``seeds`` the number of finite values
    """
    rows = []
    for (ds, model), runs in scores.groupby(["dataset", "model"], sort=False):
        metric = str(runs["metric"].iloc[0])
        values = runs["value"].to_numpy(dtype=np.float64)
        mean, lo, hi = mean_ci(values, confidence, metric_bounds(metric))
        seeds = int(np.isfinite(values).sum())
        rows.append([ds, model, metric, mean, lo, hi, seeds, np.nan])
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for _, idx in table.groupby("dataset", sort=False).groups.items():
        sub = table.loc[idx]
        score = oriented(sub["mean"].to_numpy(), str(sub["metric"].iloc[0]))
        ok = np.isfinite(score)
        ranks = np.full(len(sub), np.nan)
        ranks[ok] = stats.rankdata(-score[ok], method="average")
        table.loc[idx, "rank"] = ranks
    return table


def score_matrix(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Oriented mean scores, tasks x models, of the models with a score on every task, and the
    models left out (study order)."""
    wide = table.assign(
        score=[oriented(m, str(k)) for m, k in zip(table["mean"], table["metric"], strict=True)]
    ).pivot(index="dataset", columns="model", values="score")
    wide = wide.reindex(
        index=list(dict.fromkeys(table["dataset"])), columns=list(dict.fromkeys(table["model"]))
    ).astype(float)
    complete = wide.columns[wide.notna().all(axis=0)]
    return wide[complete], [m for m in wide.columns if m not in set(complete)]


def rank_summary(table: pd.DataFrame, tested: pd.DataFrame) -> pd.DataFrame:
    """Mean rank, tasks ranked and wins per model, best mean rank first (ties: study order).

    Parameters
    ----------
    table : :func:`task_table`
    tested : :func:`_test_ranks` of the models in the Friedman test (their ``test_rank``)
    """
    best = table[table["rank"].notna()].groupby("dataset")["rank"].min()
    test_rank = dict(zip(tested["model"], tested["mean_rank"], strict=True))
    rows = []
    for model, mine in table.groupby("model", sort=False):
        ranked = mine[mine["rank"].notna()]
        wins = sum(r == best[d] for d, r in zip(ranked["dataset"], ranked["rank"], strict=True))
        mean_rank = float(ranked["rank"].mean()) if len(ranked) else np.nan
        rows.append([model, mean_rank, len(ranked), int(wins), test_rank.get(model, np.nan)])
    ranks = pd.DataFrame(rows, columns=RANK_COLUMNS)
    return ranks.sort_values("mean_rank", kind="stable", na_position="last").reset_index(drop=True)


def friedman(matrix: np.ndarray) -> tuple[float, float]:
    """Friedman's chi-square and p over rows (tasks, the blocks) of a tasks x models matrix;
    NaN when it cannot run (fewer than 3 models or 2 tasks, or every task tied)."""
    n, k = matrix.shape
    if k < 3 or n < 2:
        return np.nan, np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2, p = stats.friedmanchisquare(*matrix.T)
    return float(chi2), float(p)


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of mean ranks for ``k`` models over ``n`` tasks:
    ``q_alpha * sqrt(k (k + 1) / (6 n))`` with ``q_alpha`` the studentized range quantile / √2."""
    if k < 2 or n < 1:
        return np.nan
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6 * n)))


def nemenyi_p(diff: float, k: int, n: int) -> float:
    """Two-sided Nemenyi p-value of a mean-rank difference ``diff`` (``k`` models, ``n`` tasks)."""
    z = abs(diff) / np.sqrt(k * (k + 1) / (6 * n))
    return float(stats.studentized_range.sf(z * np.sqrt(2), k, np.inf))


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p over tasks of the paired scores ``a`` and ``b``
    (exact for small samples; 1 when every task is a tie)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff).pvalue)


def cd_groups(ranks: pd.DataFrame, cd: float) -> list[list[str]]:
    """Maximal runs of models (in mean-rank order) whose mean ranks lie within ``cd`` of each
    other: the bars of a critical-difference diagram. Models alone in their run are left out."""
    if not np.isfinite(cd):
        return []
    names, values = ranks["model"].tolist(), ranks["mean_rank"].to_numpy(dtype=float)
    groups: list[list[str]] = []
    last_end = -1
    for i in range(len(names)):
        j = i
        while j + 1 < len(names) and values[j + 1] - values[i] < cd:
            j += 1
        if j > i and j > last_end:
            groups.append(names[i : j + 1])
            last_end = j
    return groups


def power_note(n: int, k: int, cd: float) -> str:
    """What the tests can detect at all with ``n`` tasks and ``k`` models (said in the report)."""
    min_p = 2.0 / 2**n if n else np.nan
    parts = [
        f"{n} tasks, {k} models: tasks are the replicates, so power is low.",
        f"The exact two-sided Wilcoxon p over {n} tasks cannot go below {min_p:.3g}"
        + (" (no pair can reach 0.05 with fewer than 6 tasks)." if n < 6 else "."),
    ]
    if np.isfinite(cd):
        parts.append(
            f"Nemenyi separates two models only when their mean ranks differ by at least "
            f"{cd:.3g} (the largest possible difference is {k - 1})."
        )
    parts.append("A non-significant result here is not evidence that the models are equal.")
    return " ".join(parts)


def pair_table(wide: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
    """Nemenyi and Wilcoxon-Holm over tasks for every pair of tested models (mean-rank order).

    Parameters
    ----------
    wide : :func:`score_matrix` (tasks x tested models, larger is better)
    ranks : :func:`_test_ranks` of ``wide``
    """
    n, k = wide.shape
    mean_rank = dict(zip(ranks["model"], ranks["mean_rank"], strict=True))
    order = [m for m in ranks["model"] if m in wide.columns]
    rows = []
    for a, b in combinations(order, 2):
        diff = float(mean_rank[b] - mean_rank[a])
        rows.append([a, b, diff, nemenyi_p(diff, k, n), wilcoxon_p(wide[a], wide[b]), np.nan, n])
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    if len(pairs):
        pairs["wilcoxon_p_holm"] = adjust_pvalues(pairs["wilcoxon_p"].to_numpy(), "holm")
    return pairs


def leaderboard(scores: pd.DataFrame, alpha: float = 0.05) -> Leaderboard:
    """The leaderboard of a study across its tasks.

    Parameters
    ----------
    scores : long rows, columns :data:`SCORE_COLUMNS`, one per (dataset, model, seed): the
        dataset's primary test metric
    alpha : level of the Nemenyi critical difference

    Returns
    -------
    :class:`Leaderboard`. The Friedman test and the pairs use only the models with a score on
    every task, ranked among themselves (``test_rank``); ``test["left_out"]`` names the others.
    """
    table = task_table(scores)
    wide, left_out = score_matrix(table)
    n, k = wide.shape
    tested = _test_ranks(wide)
    ranks = rank_summary(table, tested)
    cd = critical_difference(k, n, alpha)
    chi2, p = friedman(wide.to_numpy())
    test = {
        "tasks": int(n),
        "models": int(k),
        "metrics": sorted(set(table["metric"])),
        "friedman_chi2": chi2,
        "friedman_p": p,
        "alpha": float(alpha),
        "critical_difference": cd,
        "groups": cd_groups(tested, cd),
        "min_wilcoxon_p": 2.0 / 2**n if n else np.nan,
        "left_out": left_out,
        "note": power_note(n, k, cd),
    }
    return Leaderboard(table=table, ranks=ranks, pairs=pair_table(wide, tested), test=test)


def _test_ranks(wide: pd.DataFrame) -> pd.DataFrame:
    """Mean rank of each model of ``wide`` (tasks x models, larger is better), ranked among
    these models only, best first (ties: study order)."""
    if wide.empty:
        return pd.DataFrame({"model": pd.Series(dtype=str), "mean_rank": pd.Series(dtype=float)})
    ranked = np.vstack([stats.rankdata(-row, method="average") for row in wide.to_numpy()])
    out = pd.DataFrame({"model": list(wide.columns), "mean_rank": ranked.mean(axis=0)})
    return out.sort_values("mean_rank", kind="stable").reset_index(drop=True)
