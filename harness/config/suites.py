"""Benchmark suites: named lists of datasets a study can run with one line, ``suite: <name>``.

A suite is one YAML file ``studies/suites/<name>.yaml`` holding a ``description`` and a
``datasets`` list written exactly as a study's (adapter, label, params). Adding a suite is adding
a file. :func:`harness.config.load.parse_study` writes the suite's datasets into the study's
``datasets`` before validation (:func:`expand_suite`), so everything downstream sees a plain
study, and keeps the suite's name in ``StudyConfig.suite`` for the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from harness.config.study import DatasetSpec, Strict, SuiteRef
from harness.core.errors import UserError
from harness.core.registry import suggest

# harness/config/suites.py -> the checkout's studies/suites/
SUITES_DIR = Path(__file__).resolve().parents[2] / "studies" / "suites"


class SuiteFile(Strict):
    """A suite file: what it benchmarks and its datasets, each as a study would list it."""

    description: str = Field("", description="what the suite covers; shown nowhere else")
    datasets: list[DatasetSpec] = Field(min_length=1, description="the suite's tasks, in order")


def suite_names(folder: Path | None = None) -> list[str]:
    """The suites on disk: the ``*.yaml`` file names of ``folder`` (default
    :data:`SUITES_DIR`), sorted."""
    folder = SUITES_DIR if folder is None else folder
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())


def suite_path(name: str, folder: Path | None = None) -> Path:
    """The file of suite ``name`` in ``folder`` (default :data:`SUITES_DIR`); an unknown name is
    a one-line :class:`UserError` listing the suites there are (only listed names are read, so
    ``../x`` never escapes ``folder``)."""
    folder = SUITES_DIR if folder is None else folder
    valid = suite_names(folder)
    if name not in valid:
        raise UserError(
            f"suite: unknown suite {name!r}{suggest(name, valid)} "
            f"(valid: {', '.join(valid) or f'none: {folder} holds no suite file'})"
        )
    return folder / f"{name}.yaml"


def _normal(entry: Any) -> Any:
    """A dataset entry as a validated spec dumps it (an invalid one as given: validation of the
    study reports it with its index)."""
    try:
        return DatasetSpec.model_validate(entry).model_dump(mode="json")
    except ValidationError:
        return entry


def expand_suite(data: dict[str, Any], ref: SuiteRef, suite: SuiteFile) -> dict[str, Any]:
    """The study mapping ``data`` with ``suite``'s datasets written in front of its own.

    Each suite dataset gets ``ref.params`` merged over its params (shared overrides such as
    ``max_train``). A suite dataset already in ``data["datasets"]``, exactly, is not added
    again: a resolved study (dumped after expansion, e.g. for worker processes or a tuning
    confirmation) parses to itself.

    Returns
    -------
    a new mapping: ``datasets`` = the suite's (not yet present) then the study's own, and
    ``suite`` = ``ref`` in its full form
    """
    given = data.get("datasets") or []
    if not isinstance(given, list):
        return data  # not a list: the study's validation names the key
    present = [_normal(d) for d in given]
    expanded = [
        spec.model_copy(update={"params": {**spec.params, **ref.params}}).model_dump(mode="json")
        for spec in suite.datasets
    ]
    added = [d for d in expanded if d not in present]
    return {**data, "suite": ref.model_dump(mode="json"), "datasets": [*added, *given]}
