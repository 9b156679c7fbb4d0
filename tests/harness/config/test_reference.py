"""The study reference page and the schema descriptions it is generated from."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import BaseModel, Field

from harness.__main__ import main
from harness.config.describe import BLOCK_DEFAULT, FieldRow, describe, nested_blocks
from harness.config.load import parse_study
from harness.config.reference import COMMAND, EXAMPLE_STUDY, study_reference_markdown
from harness.config.study import StudyConfig
from harness.core.registry import ADAPTERS, MODELS, load_plugins

PAGE = Path(__file__).resolve().parents[3] / "docs" / "study_reference.md"


def test_committed_reference_page_is_generated_from_the_schemas():
    assert PAGE.read_text() == study_reference_markdown(), f"stale page: run `{COMMAND}`"


def test_docs_command_prints_the_page(capsys):
    assert main(["docs"]) == 0
    assert capsys.readouterr().out == study_reference_markdown()


def _undescribed(model: type[BaseModel]) -> list[str]:
    return [name for name, field in model.model_fields.items() if not field.description]


@pytest.mark.parametrize("kind", ["adapter", "model"])
def test_every_registered_params_field_has_a_description(kind):
    load_plugins()
    table = ADAPTERS if kind == "adapter" else MODELS
    assert table, "no plug-ins registered"
    missing = [f"{n}.{f}" for n, e in sorted(table.items()) for f in _undescribed(e.params)]
    assert not missing, f"{kind} params without Field(description=...): {missing}"


def test_every_study_block_field_has_a_description():
    blocks = nested_blocks(StudyConfig)
    paths = [path for path, _ in blocks]
    for wanted in ("datasets[]", "models[]", "train", "evaluation", "tracking", "tune.pruner"):
        assert wanted in paths
    missing = [f"{path or 'top'}.{f}" for path, block in blocks for f in _undescribed(block)]
    assert not missing, f"study fields without Field(description=...): {missing}"


def test_page_covers_every_block_adapter_and_model():
    page = study_reference_markdown()
    for path, _ in nested_blocks(StudyConfig)[1:]:
        assert f"## `{path}`" in page
    for name in (*ADAPTERS, *MODELS):
        assert f"### `{name}`" in page
    for key in ("`max_train`", "`max_val`", "`importance_max_examples`", "`subset_seed`"):
        assert key in page


def test_the_pages_example_study_validates():
    study = parse_study(yaml.safe_load(EXAMPLE_STUDY))
    override = next(m for m in study.models if m.key == "transformer_slow")
    assert override.train["lr"] == 0.0003
    assert study.datasets[0].params["max_val"] == 1000


class Inner(BaseModel):
    """A nested block."""

    flag: bool = Field(True, description="a switch")


class Sample(BaseModel):
    count: int = Field(3, ge=1, description="how many")
    share: float = Field(0.1, gt=0, lt=0.5, description="a fraction")
    mode: Literal["fast", "slow"] = Field("fast", description="speed")
    cap: int | None = Field(None, ge=2, description="optional cap")
    names: list[str] = Field(default_factory=lambda: ["a"], min_length=1, description="labels")
    size: tuple[int, int] = Field((1, 2), description="pair")
    needed: str = Field(description="no default")
    block: Inner = Field(default_factory=Inner, description="nested")


def test_describe_reads_types_defaults_and_ranges_from_the_schema():
    rows = {row.name: row for row in describe(Sample)}
    assert list(rows) == list(Sample.model_fields)
    assert rows["count"] == FieldRow("count", "int", "3", "x ≥ 1", "how many")
    assert rows["share"].allowed == "0 < x < 0.5"
    assert (rows["mode"].type, rows["mode"].default, rows["mode"].allowed) == (
        "str",
        "fast",
        "fast, slow",
    )
    assert (rows["cap"].type, rows["cap"].default, rows["cap"].allowed) == (
        "int | null",
        "null",
        "x ≥ 2",
    )
    assert (rows["names"].type, rows["names"].default, rows["names"].allowed) == (
        "list[str]",
        '["a"]',
        "items ≥ 1",
    )
    assert rows["size"].type == "[int, int]" and rows["size"].default == "[1, 2]"
    assert rows["needed"].default == "required"
    assert (rows["block"].type, rows["block"].default) == ("Inner", BLOCK_DEFAULT)
    assert nested_blocks(Sample) == [("", Sample), ("block", Inner)]
