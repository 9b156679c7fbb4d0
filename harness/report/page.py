"""Sections to documents: HTML through the jinja2 templates in ``templates/``, and Markdown.

Both show the same blocks with the same cell text (:func:`~harness.report.blocks.fmt`). The HTML
inlines every figure as a base64 PNG; the Markdown links ``figures/<name>.png``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from harness.report.blocks import Block, Section, Table, Text, fmt


def inline_md(text: str) -> Markup:
    """Markdown ``**bold**`` and ```code``` to HTML, after escaping everything else."""
    out = str(escape(text))
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return Markup(re.sub(r"`(.+?)`", r"<code>\1</code>", out))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,  # block tags take no line of their own in the output
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["inline_md"] = inline_md
    return env


def _css_class(value: str) -> str:
    return re.sub(r"[^a-z]+", "-", value.lower()).strip("-")


def _table_view(table: Table) -> dict[str, Any]:
    """Header and formatted cells; cells of ``class_column`` carry their value as CSS class."""
    frame = table.frame
    styled = [str(c) == table.class_column for c in frame.columns]
    rows = [
        [(fmt(v), _css_class(fmt(v)) if s else "") for v, s in zip(row, styled, strict=True)]
        for row in frame.itertuples(index=False)
    ]
    return {
        "kind": "table",
        "caption": table.caption,
        "head": [str(c) for c in frame.columns],
        "rows": rows,
    }


def _block_view(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"kind": "text", "paragraphs": block.text.split("\n\n"), "no_data": block.no_data}
    if isinstance(block, Table):
        return _table_view(block)
    return {
        "kind": "figure",
        "caption": block.caption,
        "data": base64.b64encode(block.png).decode("ascii"),
    }


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The whole report as one HTML document with the figures inlined."""
    views = [
        {
            "title": s.title,
            "anchor": s.anchor,
            "blocks": [_block_view(b) for b in s.blocks],
        }
        for s in sections
    ]
    return _environment().get_template("report.html.j2").render(title=title, sections=views)


def _md_cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    frame = table.frame
    lines = [f"**{table.caption}**", ""] if table.caption else []
    lines.append("| " + " | ".join(_md_cell(c) for c in frame.columns) + " |")
    lines.append("|" + "---|" * len(frame.columns))
    lines += [
        "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return [*lines, ""]


def render_markdown(title: str, sections: Sequence[Section], figure_dir: str = "figures") -> str:
    """The same report in Markdown; figures are links to ``figure_dir/<name>.png``."""
    lines = [f"# {title}", ""]
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        for block in sec.blocks:
            if isinstance(block, Text):
                lines += [block.text, ""]
            elif isinstance(block, Table):
                lines += _md_table(block)
            else:
                alt = block.caption.replace("[", "\\[").replace("]", "\\]")
                lines += [f"![{alt}]({figure_dir}/{block.name}.png)", ""]
    return "\n".join(lines)
