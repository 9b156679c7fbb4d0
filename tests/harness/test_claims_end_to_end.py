"""A tiny claims study run through the CLI: the claims table it writes holds a row per claim, and
every verdict agrees with its CI and margin; with one seed every verdict is inconclusive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.__main__ import main
from harness.analysis.claims import INCONCLUSIVE, MIN_EXAMPLES, NOT_TESTABLE, REFUTED, SUPPORTED

STUDY = """
name: claims_e2e
seeds: {seeds}
claims: claims.yaml
datasets:
  - adapter: synthetic_motifs
    label: planted
    params: {{n: 400, length: 40, max_motifs: 2, target: binary}}
models: [{{name: constant}}, {{name: kmer_logreg, params: {{k: 3}}}}, {{name: onehot_linear}}]
evaluation: {{ablation_steps: 0, importance_max_examples: 0}}
report: {{out_dir: reports}}
"""
CLAIMS = """
claims:
  - {id: kmer_beats_chance, claim: k-mers beat chance, source: {file: t.md, section: "1"},
     kind: metric, direction: above, value: baseline, margin: 0.0, runs: {model: kmer_logreg},
     metric: test_auroc, baseline: baseline_test_auroc}
  - {id: kmer_auroc_high, claim: k-mers reach AUROC 0.99, source: {file: t.md, section: "2"},
     kind: metric, direction: at_least, value: 0.99, margin: 0.005, runs: {model: kmer_logreg},
     metric: test_auroc}
  - {id: kmer_auroc_low, claim: k-mers reach AUROC 0.55, source: {file: t.md, section: "3"},
     kind: metric, direction: at_least, value: 0.55, margin: 0.005, runs: {model: kmer_logreg},
     metric: test_auroc}
  - {id: onehot_keeps, claim: one-hot keeps 50% of k-mer AUROC, source: {file: t.md, section: "4"},
     kind: retention, direction: at_least, value: 0.5, margin: 0.0005,
     runs: {model: onehot_linear}, reference: {model: kmer_logreg}, metric: test_auroc}
  - {id: fewer_macs, claim: one-hot needs 90% fewer MACs, source: {file: t.md, section: "5"},
     kind: savings, direction: at_least, value: 0.9, margin: 0.005,
     runs: {model: onehot_linear}, reference: {model: kmer_logreg}, metric: macs_per_seq}
  - {id: same_auroc, claim: k-mer and one-hot are equally good, source: {file: t.md, section: "6"},
     kind: difference, direction: approx, value: 0.0, margin: 0.02,
     runs: {model: onehot_linear}, reference: {model: kmer_logreg}, metric: test_auroc}
"""
SIDE_RULES = {"above", "at_least", "approx"}


def run_claims_study(tmp_path: Path, store: str, seeds: list[int]) -> pd.DataFrame:
    (tmp_path / "claims.yaml").write_text(CLAIMS)
    study = tmp_path / "study.yaml"
    study.write_text(STUDY.format(seeds=seeds))
    assert main(["run", str(study), "--tracking-uri", store, "--no-progress"]) == 0
    written = sorted((tmp_path / "reports").rglob("claims.csv"))
    assert written, "the study wrote no claims table"
    table = pd.read_csv(written[0])
    assert len(table) > 0, "the claims table has no rows"
    return table


def _claim_side(row: pd.Series) -> tuple[float, float, bool]:
    """The claim side of each claim above, from its row (the rule, restated independently)."""
    v, m = row["claimed_value"], row["margin"]
    if row["claim_id"] == "kmer_beats_chance":
        return row["constant"] + m, np.inf, True
    if row["claim_id"] == "same_auroc":
        return v - m, v + m, False
    return v - m, np.inf, False


def test_every_verdict_agrees_with_its_ci_and_margin(tmp_path, store):
    table = run_claims_study(tmp_path, store, [0, 1, 2])
    assert set(table["claim_id"]) == {
        "kmer_beats_chance",
        "kmer_auroc_high",
        "kmer_auroc_low",
        "onehot_keeps",
        "fewer_macs",
        "same_auroc",
    }
    assert (table["verdict"] != NOT_TESTABLE).all(), table[["claim_id", "why"]]
    for _, row in table.iterrows():
        assert row["seeds"] == 3 and row["examples"] >= MIN_EXAMPLES
        lo, hi = row["ci_lo"], row["ci_hi"]
        assert np.isfinite(lo) and np.isfinite(hi) and lo <= row["measured"] <= hi, row
        low, high, open_low = _claim_side(row)
        inside = (lo > low if open_low else lo >= low) and hi <= high
        outside = (hi <= low if open_low else hi < low) or lo > high
        expected = SUPPORTED if inside else REFUTED if outside else INCONCLUSIVE
        assert row["verdict"] == expected, (row["claim_id"], lo, hi, low, high, row["why"])
        assert (row["verdict"] == INCONCLUSIVE) == isinstance(row["to_settle"], str)
    verdicts = dict(zip(table["claim_id"], table["verdict"], strict=True))
    # deterministic MACs: 40 one-hot lookups against 38 windows x (3 x 2 + 1) k-mer MACs
    assert verdicts["fewer_macs"] == REFUTED
    assert table.set_index("claim_id").loc["fewer_macs", "measured"] == pytest.approx(1 - 40 / 266)


def test_one_seed_gives_only_inconclusive_verdicts(tmp_path, store):
    table = run_claims_study(tmp_path, store, [0])
    assert (table["verdict"] == INCONCLUSIVE).all(), table[["claim_id", "verdict", "why"]]
    assert table["why"].str.contains("at least 3").all()
