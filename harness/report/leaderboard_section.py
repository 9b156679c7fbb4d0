"""The Leaderboard section: models ranked across the study's tasks (datasets), as
:mod:`harness.analysis.leaderboard` computed it. It selects and formats Analysis rows, computing
nothing; a study of one dataset shows ``no data`` with the analysis' reason.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analysis.bundle import Analysis
from harness.report.blocks import Section, Table, Text, ci_cell, fmt
from harness.report.plots import leaderboard_plot

LEADERBOARD_TITLE = "Leaderboard"


def _intro(a: Analysis, test: dict[str, Any]) -> str:
    where = f"the suite **{a.meta.suite}**" if a.meta.suite else "the study's datasets"
    metrics = ", ".join(test.get("metrics", [])) or "the primary metric"
    return (
        f"Models ranked across the {fmt(test.get('tasks', 0))} tasks of {where}. Each task is "
        f"scored by its primary test metric ({metrics}): mean over seeds with its 95% t "
        "interval, and the model's rank on that task (1 = best, ties share the average rank). "
        "Tasks are the replicates of the tests below: Friedman's test asks whether the "
        "models' ranks differ at all; the pairs are compared by the Nemenyi post-hoc test "
        "(critical difference of mean ranks) and by the Wilcoxon signed-rank test over tasks, "
        "Holm-adjusted."
    )


def _test_text(test: dict[str, Any]) -> str:
    chi2, p = test.get("friedman_chi2", float("nan")), test.get("friedman_p", float("nan"))
    friedman = (
        f"Friedman chi-square = {fmt(chi2)}, p = {fmt(p)} "
        f"({fmt(test.get('models', 0))} models x {fmt(test.get('tasks', 0))} tasks)"
        if pd.notna(p)
        else "Friedman test: not run (it needs 3 or more models on 2 or more tasks)"
    )
    cd = test.get("critical_difference", float("nan"))
    nemenyi = (
        f"; Nemenyi critical difference at alpha = {fmt(test.get('alpha'))}: {fmt(cd)} ranks"
        if pd.notna(cd)
        else ""
    )
    left = test.get("left_out") or []
    missing = f" Left out of the tests (no score on every task): {', '.join(left)}." if left else ""
    return f"{friedman}{nemenyi}.{missing}\n\n**Power.** {test.get('note', '')}"


def leaderboard_table(table: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
    """One row per model (best mean rank first): mean rank, wins, then per task
    ``mean [lo, hi] (#rank)``.

    Parameters
    ----------
    table : ``Analysis.leaderboard`` (dataset, model, mean, ci_lo, ci_hi, rank)
    ranks : ``Analysis.leaderboard_ranks`` (model, mean_rank, tasks, wins)
    """
    tasks = list(dict.fromkeys(table["dataset"]))
    cells = {
        (r.dataset, r.model): f"{ci_cell(r.mean, r.ci_lo, r.ci_hi)} (#{fmt(r.rank)})"
        for r in table.itertuples()
    }
    rows = []
    for r in ranks.itertuples():
        rows.append(
            {
                "model": r.model,
                "mean rank": fmt(r.mean_rank),
                "tasks": fmt(r.tasks),
                "wins": fmt(r.wins),
                **{ds: cells.get((ds, r.model), "—") for ds in tasks},
            }
        )
    return pd.DataFrame(rows)


def pairs_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairwise post-hoc tests, formatted (model a ranks better when the difference > 0)."""
    return pd.DataFrame(
        {
            "model a": pairs["model_a"],
            "model b": pairs["model_b"],
            "mean rank b - a": pairs["rank_diff"],
            "Nemenyi p": pairs["nemenyi_p"],
            "Wilcoxon p": pairs["wilcoxon_p"],
            "Wilcoxon p (Holm)": pairs["wilcoxon_p_holm"],
        }
    )


def section_leaderboard(a: Analysis) -> Section:
    """Leaderboard table, mean-rank / critical-difference figure and the pairwise tests."""
    sec = Section(LEADERBOARD_TITLE)
    table, ranks, test = a.leaderboard, a.leaderboard_ranks, a.leaderboard_test
    if table.empty or ranks.empty:
        sec.no_data(a.notes.get("leaderboard", "no leaderboard was computed"))
        return sec
    sec.blocks.append(Text(_intro(a, test)))
    sec.blocks.append(
        Table(
            leaderboard_table(table, ranks),
            "Per task: mean [95% CI] over seeds (#rank on the task); models by mean rank",
        )
    )
    sec.blocks.append(
        leaderboard_plot(
            ranks[["model", "mean_rank"]],
            table[["dataset", "model", "rank"]],
            float(test.get("critical_difference", float("nan"))),
            test.get("groups", []),
            float(test.get("alpha", 0.05)),
        )
    )
    sec.blocks.append(Text(_test_text(test)))
    if not a.leaderboard_pairs.empty:
        sec.blocks.append(
            Table(
                pairs_table(a.leaderboard_pairs),
                "Pairwise over tasks: Nemenyi (from mean ranks) and Wilcoxon signed-rank "
                "(on the per-task means), Holm-adjusted",
            )
        )
    return sec
