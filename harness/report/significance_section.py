"""The Significance section: each model against the reference, as the analysis tested it."""

from __future__ import annotations

import pandas as pd

from harness.analysis.bundle import Analysis
from harness.report.blocks import Section, Table, Text, ci_column


def _significance_text(reference: str, correction: str) -> str:
    return (
        f"Each model against the reference **{reference}**, per primary metric. "
        "`diff` is the mean over seeds of model minus reference with its t interval; "
        "`t p` and `Wilcoxon p` test it over seeds (Wilcoxon cannot reach 0.05 with fewer "
        "than 6 seeds). The example-level test compares the two models on the same test "
        "examples of each seed (exact McNemar for accuracy, DeLong for AUROC, paired "
        "bootstrap otherwise); its p is the largest over seeds (the difference must hold in "
        "every seed). The two-level CI covers seeds and test examples together (one example "
        "resample shared by every seed and both models, plus the spread over seeds; kept "
        "within the metric's range); `MDD` is the smallest difference this design detects "
        "(p < 0.05 with 80% power), so an inconclusive row with |diff| well below its MDD "
        "needs more seeds or test examples, not a rerun. Retention is model / reference "
        "(reference / model for MSE) with the same two-level CI, next to the constant "
        "predictor's retention (blank where the reference is no better than the constant "
        "predictor on that metric). All p-values "
        f"are {correction}-adjusted across the whole study; `significant` uses the adjusted "
        "example-level p < 0.05."
    )


def section_significance(a: Analysis) -> Section:
    sec = Section("Significance")
    frame, reference = a.comparisons, a.meta.reference
    if "comparisons" in a.notes:
        sec.no_data(a.notes["comparisons"])
        return sec
    if frame.empty:
        sec.no_data(f"no model shares a dataset and seed with the reference {reference!r}")
        return sec
    sec.blocks.append(Text(_significance_text(reference, a.meta.correction)))
    shown = pd.DataFrame(
        {
            "dataset": frame["dataset"],
            "model": frame["model"],
            "metric": frame["metric"],
            "model mean": frame["model_mean"],
            "reference mean": frame["ref_mean"],
            "diff [95% CI]": ci_column(frame, "diff", "diff_ci_lo", "diff_ci_hi"),
            "diff [two-level CI]": ci_column(frame, "diff", "boot_diff_lo", "boot_diff_hi"),
            "MDD": frame["mdd"],
            "t p (adj)": frame["t_p_adj"],
            "Wilcoxon p (adj)": frame["wilcoxon_p_adj"],
            "example test": frame["example_test"],
            "example p (adj)": frame["example_p_adj"],
            "retention [95% CI]": ci_column(frame, "retention", "retention_lo", "retention_hi"),
            "constant retention": frame["const_retention"],
            "significant": frame["significant"],
        }
    )
    sec.blocks.append(Table(shown, f"Comparisons with {reference} ({len(frame)} tests)"))
    return sec
