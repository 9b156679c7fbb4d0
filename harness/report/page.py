"""Sections to documents: HTML through the jinja2 templates in ``templates/``, and Markdown.

Both show the same blocks with the same cell text (:func:`~harness.report.blocks.fmt`). The HTML
inlines every figure as a base64 PNG; the Markdown links ``figures/<name>.png``.

Text blocks and captions carry the report's only markup, ``**bold**`` and ```code```, around
text that may come from the user (study, dataset and model names, claims, failure reasons).
Everything else is escaped where it is emitted: by jinja2's autoescape in HTML, by
:func:`md_escape` in Markdown, so no name can break a table, open a link or inject HTML.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from harness.report.blocks import Block, Section, Table, Text, fmt

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`(.+?)`")
_NUMBER = r"-?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|inf)"
# a figure the harness formats (fmt, ci_cell): its brackets can never open a link
_FIGURE = re.compile(rf"{_NUMBER}(?: \[{_NUMBER}, {_NUMBER}\])?")
# escaped wherever they stand: emphasis, code, links and images, HTML and autolinks, table
# cells, headings (a trailing `#` closes one), strikethrough and fences
_ALWAYS = re.compile(r"([\\`*\[\]<|#~])")
_ENTITY = re.compile(r"&(?=#?\w+;)")  # `&lt;` would otherwise turn into `<`
# `_` opens or closes emphasis unless letters or digits stand on both sides of it
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# block markers at a line's start: quotes, bullets, thematic breaks, setext underlines (group
# 2), ordered list items (group 4); the escape goes before the marker's punctuation
_BLOCK_MARKER = re.compile(
    r"^( {0,3})(>|[-+=](?=[-+=\s]|$))|^( {0,3}\d{1,9})([.)])(?=\s|$)", re.MULTILINE
)


def inline_md(text: str) -> Markup:
    """Markdown ``**bold**`` and ```code``` to HTML, after escaping everything else."""
    out = str(escape(text))
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return Markup(_CODE.sub(r"<code>\1</code>", out))


def md_escape(text: str, line_start: bool = False) -> str:
    """``text`` as literal Markdown: it renders as itself, whatever characters it holds.

    Parameters
    ----------
    text : plain text, e.g. a name the user chose or a formatted cell
    line_start : ``text`` begins a line of the document, so a block marker there (``- ``,
        ``> ``, ``1. ``) is escaped too; after each newline inside ``text`` it always is

    Backslash-escapes what could open emphasis, code, a link, HTML, a table cell, a heading or
    an entity wherever it stands. Figures the harness formats (``0.81``, ``-1.2e-05``,
    ``0.81 [0.78, 0.84]``) and underscores inside words (``macs_per_seq``) pass unchanged, so
    tables of numbers stay readable as plain text.
    """
    if not line_start and _FIGURE.fullmatch(text):  # at a line's start `1.` is a list item
        return text
    out = _ALWAYS.sub(r"\\\1", text)
    out = _ENTITY.sub(r"\\&", out)
    out = _UNDERSCORE.sub(r"\\_", out)

    def escape_marker(match: re.Match[str]) -> str:
        if match.start() == 0 and not line_start:
            return match[0]
        indent, marker = (match[1], match[2]) if match[2] else (match[3], match[4])
        return f"{indent}\\{marker}"

    return _BLOCK_MARKER.sub(escape_marker, out)


def _md_code_spans(text: str, line_start: bool) -> str:
    """``text`` with its ```code``` spans kept (literal in Markdown: no escaping needed, and the
    ``_CODE`` pattern leaves no backtick inside) and the rest escaped."""
    out, end = [], 0
    for match in _CODE.finditer(text):
        out += [md_escape(text[end : match.start()], line_start and end == 0), f"`{match[1]}`"]
        end = match.end()
    return "".join([*out, md_escape(text[end:], line_start and end == 0)])


def md_inline(text: str, line_start: bool = True) -> str:
    """The report's markup (``**bold**``, ```code```) in Markdown, everything else escaped.

    Bold is matched first and may hold code spans, as in :func:`inline_md`. ``line_start`` as in
    :func:`md_escape`: a Text block is a paragraph, so it begins a line.
    """
    out, end = [], 0
    for match in _BOLD.finditer(text):
        before = _md_code_spans(text[end : match.start()], line_start and end == 0)
        out += [before, f"**{_md_code_spans(match[1], False)}**"]
        end = match.end()
    return "".join([*out, _md_code_spans(text[end:], line_start and end == 0)])


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
    """A table cell: formatted, on one line, escaped (``|`` included)."""
    return md_escape(fmt(value).replace("\n", " "))


def _md_table(table: Table) -> list[str]:
    frame = table.frame
    lines = [f"**{md_inline(table.caption, line_start=False)}**", ""] if table.caption else []
    lines.append("| " + " | ".join(_md_cell(c) for c in frame.columns) + " |")
    lines.append("|" + "---|" * len(frame.columns))
    lines += [
        "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return [*lines, ""]


def render_markdown(title: str, sections: Sequence[Section], figure_dir: str = "figures") -> str:
    """The same report in Markdown; figures are links to ``figure_dir/<name>.png``.

    Every text, cell, caption and title goes through :func:`md_escape` (``md_inline`` where the
    report's own markup is kept); figure names are :func:`~harness.report.blocks.slug` s.
    """
    lines = [f"# {md_escape(title)}", ""]
    for sec in sections:
        lines += [f"## {md_escape(sec.title)}", ""]
        for block in sec.blocks:
            if isinstance(block, Text):
                lines += [md_inline(block.text), ""]
            elif isinstance(block, Table):
                lines += _md_table(block)
            else:
                alt = md_escape(block.caption.replace("\n", " "))
                lines += [f"![{alt}]({figure_dir}/{block.name}.png)", ""]
    return "\n".join(lines)
