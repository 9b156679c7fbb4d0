"""Look-ups over a study's runs and test splits, in the order the study lists them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.results import DatasetRecord, RunResult


@dataclass(frozen=True)
class StudyIndex:
    """A study's runs and the test splits they were evaluated on.

    Every listing keeps the order in which datasets and models first appear in ``results``
    (the study's order), so tables and figures come out in the same order every time.
    """

    results: tuple[RunResult, ...]
    records: tuple[DatasetRecord, ...]

    @classmethod
    def of(cls, results: Sequence[RunResult], records: Sequence[DatasetRecord]) -> StudyIndex:
        return cls(tuple(results), tuple(records))

    @property
    def datasets(self) -> list[str]:
        """Dataset labels with at least one run."""
        return list(dict.fromkeys(r.dataset for r in self.results))

    @property
    def model_labels(self) -> list[str]:
        """Every model label of the study, across datasets."""
        return list(dict.fromkeys(r.model for r in self.results))

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.results})

    def models(self, dataset: str) -> list[str]:
        """Model labels run on ``dataset``."""
        return list(dict.fromkeys(r.model for r in self.results if r.dataset == dataset))

    def runs(self, dataset: str, model: str | None = None) -> list[RunResult]:
        """Runs on ``dataset`` (of ``model`` when given), sorted by seed (stable)."""
        return sorted(
            (
                r
                for r in self.results
                if r.dataset == dataset and (model is None or r.model == model)
            ),
            key=lambda r: r.seed,
        )

    def record(self, dataset: str, seed: int) -> DatasetRecord | None:
        """The test split ``dataset`` had at ``seed``, if it was recorded."""
        return next((d for d in self.records if d.dataset == dataset and d.seed == seed), None)

    def dataset_records(self, dataset: str) -> list[DatasetRecord]:
        return [d for d in self.records if d.dataset == dataset]

    def task(self, dataset: str) -> str:
        return self.runs(dataset)[0].task
