"""The leaderboard across tasks: per-task intervals and ranks, mean rank, Friedman and post-hoc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.analysis.intervals import mean_ci, metric_bounds
from harness.analysis.leaderboard import (
    SCORE_COLUMNS,
    cd_groups,
    critical_difference,
    leaderboard,
    task_table,
)


def scores(means: dict[str, dict[str, float]], metric: str | dict[str, str] = "auroc", seeds=3):
    """Long score rows: task -> model -> centre, seeds spread by ±0.01 around it."""
    rows = []
    for task, by_model in means.items():
        m = metric[task] if isinstance(metric, dict) else metric
        for model, centre in by_model.items():
            for s in range(seeds):
                rows.append([task, model, s, m, centre + 0.01 * (s - (seeds - 1) / 2)])
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def test_ranks_respect_direction_and_ties_and_the_mean_rank_averages_them():
    frame = scores(
        {
            "t1": {"a": 0.9, "b": 0.8, "c": 0.8},  # b and c tie: 2.5 each
            "t2": {"a": 2.0, "b": 1.0, "c": 3.0},  # mse: lower is better, so b first
        },
        metric={"t1": "auroc", "t2": "mse"},
    )
    board = leaderboard(frame)
    rank = {(r.dataset, r.model): r.rank for r in board.table.itertuples()}
    assert rank == {
        ("t1", "a"): 1.0,
        ("t1", "b"): 2.5,
        ("t1", "c"): 2.5,
        ("t2", "b"): 1.0,
        ("t2", "a"): 2.0,
        ("t2", "c"): 3.0,
    }
    ranks = board.ranks.set_index("model")
    assert ranks.loc["a", "mean_rank"] == pytest.approx(1.5)
    assert ranks.loc["b", "mean_rank"] == pytest.approx(1.75)
    assert ranks.loc["c", "mean_rank"] == pytest.approx(2.75)
    assert list(board.ranks["model"]) == ["a", "b", "c"]  # best mean rank first
    assert (
        ranks.loc["a", "wins"] == 1 and ranks.loc["b", "wins"] == 1 and ranks.loc["c", "wins"] == 0
    )


def test_task_scores_are_the_bounded_seed_interval():
    frame = scores({"t1": {"a": 0.9}, "t2": {"a": 0.7}})
    table = task_table(frame)
    values = frame[frame["dataset"] == "t1"]["value"].to_numpy()
    mean, lo, hi = mean_ci(values, 0.95, metric_bounds("auroc"))
    row = table[table["dataset"] == "t1"].iloc[0]
    assert (row["mean"], row["ci_lo"], row["ci_hi"], row["seeds"]) == (mean, lo, hi, 3)


def test_one_model_always_winning_is_found_by_friedman_and_nemenyi_extremes_only():
    """4 tasks x 4 models, the same order on every task: chi-square is its maximum
    N (k - 1) = 12, p = 0.0074; Nemenyi separates only best and worst (rank gap 3 > CD 2.35);
    no Wilcoxon p can go below 2 / 2**4 = 0.125."""
    order = {"best": 0.95, "good": 0.85, "fair": 0.75, "worst": 0.65}
    frame = scores({f"t{i}": {m: v - 0.02 * i for m, v in order.items()} for i in range(4)})
    board = leaderboard(frame)
    test = board.test
    assert test["tasks"] == 4 and test["models"] == 4
    assert test["friedman_chi2"] == pytest.approx(12.0)
    assert test["friedman_p"] == pytest.approx(stats.chi2.sf(12.0, 3))
    assert test["friedman_p"] < 0.01
    q = stats.studentized_range.ppf(0.95, 4, np.inf) / np.sqrt(2)  # 2.569 (Demšar's table)
    assert q == pytest.approx(2.569, abs=1e-3)
    assert test["critical_difference"] == pytest.approx(q * np.sqrt(4 * 5 / (6 * 4)))
    pairs = board.pairs.set_index(["model_a", "model_b"])
    assert pairs.loc[("best", "worst"), "rank_diff"] == pytest.approx(3.0)
    assert pairs.loc[("best", "worst"), "nemenyi_p"] < 0.05
    assert pairs.loc[("best", "good"), "nemenyi_p"] > 0.05
    assert (board.pairs["wilcoxon_p"] >= 0.125 - 1e-12).all()
    assert (board.pairs["wilcoxon_p_holm"] >= board.pairs["wilcoxon_p"]).all()
    assert test["min_wilcoxon_p"] == 0.125
    assert "cannot go below 0.125" in test["note"] and "not evidence" in test["note"]
    assert test["groups"] == [["best", "good", "fair"], ["good", "fair", "worst"]]


def test_models_with_no_clear_order_are_not_significant():
    rng = np.random.default_rng(1)
    frame = scores({f"t{i}": {m: 0.8 + 0.05 * rng.normal() for m in "abcd"} for i in range(4)})
    test = leaderboard(frame).test
    assert test["friedman_p"] > 0.05


def test_a_model_missing_a_task_is_ranked_where_it_ran_and_left_out_of_the_tests():
    frame = scores(
        {
            "t1": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6},
            "t2": {"a": 0.9, "b": 0.8, "c": 0.7},
        }
    )
    board = leaderboard(frame)
    assert board.test["left_out"] == ["d"] and board.test["models"] == 3
    ranks = board.ranks.set_index("model")
    assert ranks.loc["d", "tasks"] == 1 and np.isnan(ranks.loc["d", "test_rank"])
    assert set(board.pairs["model_a"]) | set(board.pairs["model_b"]) == {"a", "b", "c"}


def test_two_models_have_no_friedman_but_pairs():
    frame = scores({"t1": {"a": 0.9, "b": 0.8}, "t2": {"a": 0.9, "b": 0.7}})
    board = leaderboard(frame)
    assert np.isnan(board.test["friedman_p"])
    assert len(board.pairs) == 1


def test_cd_groups_are_maximal_runs_within_the_critical_difference():
    ranks = pd.DataFrame({"model": list("abcd"), "mean_rank": [1.0, 1.5, 3.0, 3.2]})
    assert cd_groups(ranks, 1.0) == [["a", "b"], ["c", "d"]]
    assert cd_groups(ranks, 5.0) == [["a", "b", "c", "d"]]
    assert cd_groups(ranks, 0.1) == []
    assert np.isnan(critical_difference(1, 4))
