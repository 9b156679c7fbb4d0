"""A small fake study (results and dataset records) shared by the analysis and report tests."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from adapters.synthetic_motifs import SyntheticMotifsParams, load
from harness.analysis.analyze import analyze
from harness.analysis.bundle import Analysis
from harness.config.load import load_claims
from harness.core.dataset import SplitView
from harness.core.metrics import compute_metrics
from harness.core.results import DatasetRecord, RunResult
from harness.train.ablation import ablation_curves

MODELS = (("attention", "attention", {}), ("sparse10", "sparse_attention", {"sparsity": 0.1}))


def _result(dataset, label, name, params, seed, task, view, score, importance, n_params):
    base = np.full(len(view.labels), float(np.mean(view.labels)))

    def rows(t):  # the scores of every copy of the rows: ablation scores its copies stacked
        return np.tile(score, len(t) // len(score))

    predict = (
        rows
        if task == "regression"
        else (lambda t: np.clip(rows(t) - 0.3 * (t[:, :5] == 5).mean(axis=1), 0, 1))
    )
    return RunResult(
        dataset=dataset,
        model=label,
        model_name=name,
        seed=seed,
        task=task,
        metrics=compute_metrics(task, view.labels, score),
        baseline_metrics=compute_metrics(task, view.labels, base),
        y_true=view.labels,
        y_score=score,
        ids=view.ids,
        importance=importance,
        ablation=ablation_curves(
            predict, view.tokens, view.labels, importance, task, steps=4, seed=seed
        ),
        curves={
            "train_loss": [0.3, 0.2, 0.15],
            f"val_{'pearson' if task == 'regression' else 'auroc'}": [0.2, 0.5, 0.6],
        },
        compute={
            "n_params": n_params,
            "macs_per_seq": 10.0 * n_params,
            "train_seconds": 2.0,
            "seconds_per_epoch": 0.7,
            "peak_rss_mb": 400.0,
        },
        params=dict(params),
    )


def fake_study(seeds=(0, 1), promoters: bool = True, n_synthetic: int = 120):
    """2 models x 2 seeds on ``n_synthetic`` planted-motif sequences (+ a small promoter-like
    binary set)."""
    results, records = [], []
    for seed in seeds:
        params = SyntheticMotifsParams(n=n_synthetic, length=40, max_motifs=2, noise_sd=0.05)
        ds = load(params, seed)
        test = ds.view("test")
        records.append(DatasetRecord("synthetic", seed, ds.task, test, ds.meta, ds.length))
        rng = np.random.default_rng(seed)
        clean = test.annotations["clean_label"]
        mask = test.annotations["motif_mask"]
        for (label, name, params), noise, n_params in zip(
            MODELS, (0.1, 0.15), (4961.0, 2346.0), strict=True
        ):
            score = clean + rng.normal(0, noise, len(clean))
            imp = (mask + rng.normal(0, 0.5, mask.shape)).astype(np.float32)
            results.append(
                _result(
                    "synthetic", label, name, params, seed, "regression", test, score, imp, n_params
                )
            )
        if promoters:
            n, length = 30, 60
            tokens = rng.integers(0, 4, (n, length), dtype=np.uint8)
            labels = rng.integers(0, 2, n)
            view = SplitView(
                tokens, labels, np.array([f"p{i}" for i in range(n)]), {"tss_index": np.full(n, 45)}
            )
            records.append(
                DatasetRecord("promoters", seed, "binary", view, {"source": "fake"}, length)
            )
            for label, name, params in (
                ("attention", "attention", {}),
                ("kmer", "kmer_logreg", {"k": 4}),
            ):
                score = np.clip(0.5 + (labels - 0.5) * 0.5 + rng.normal(0, 0.2, n), 0, 1)
                results.append(
                    _result(
                        "promoters",
                        label,
                        name,
                        params,
                        seed,
                        "binary",
                        view,
                        score,
                        rng.random((n, length)),
                        100.0,
                    )
                )
    return results, records


SEED_CLAIMS = Path(__file__).resolve().parents[2] / "studies" / "claims" / "seed_claims.yaml"
FAKE_BASELINES = ("kmer",)  # the fake study's k-mer model plays the baseline role
N_BOOT = 100


@functools.cache
def fake_analysis() -> Analysis:
    """:func:`analyze` of :func:`fake_study` with the seed claims (computed once per session).

    Shared by several test modules: treat it as read-only.
    """
    results, records = fake_study()
    return analyze(
        results,
        records,
        reference="attention",
        baselines=FAKE_BASELINES,
        claims=load_claims(SEED_CLAIMS),
        n_boot=N_BOOT,
        study="toy",
        facts={"parent_run_id": "0123abcd", "tracking_uri": "sqlite:///fake.db"},
    )
