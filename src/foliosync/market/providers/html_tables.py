"""Tables out of an HTML page with the standard library's parser (no lxml/pandas dependency).

Keeps what constituent tables need: each table's attributes and its rows of cells (text plus
whether the cell is a header). Footnote references (`<sup class="reference">`), hidden sort keys
(`display:none`), styles and scripts are dropped so a cell reads as a person sees it. Nested
tables are collected separately and do not leak text into the outer cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_SPACE = re.compile(r"\s+")
_SKIP_TAGS = frozenset({"style", "script", "noscript"})
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"})


@dataclass
class Cell:
    text: str
    header: bool


@dataclass
class Table:
    attrs: dict[str, str]
    rows: list[list[Cell]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.attrs.get("id", "")

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


@dataclass
class _Open:
    table: Table
    row: list[Cell] | None = None
    cell_parts: list[str] | None = None
    cell_header: bool = False


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self._stack: list[_Open] = []
        self._skip: list[str] = []  # tags whose content is being dropped

    # Cells and rows are closed implicitly by the next one, as browsers do.
    def _close_cell(self, state: _Open) -> None:
        if state.cell_parts is not None and state.row is not None:
            text = _SPACE.sub(" ", "".join(state.cell_parts)).strip()
            state.row.append(Cell(text, state.cell_header))
        state.cell_parts = None

    def _close_row(self, state: _Open) -> None:
        self._close_cell(state)
        if state.row is not None:
            state.table.rows.append(state.row)
        state.row = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if self._skip:
            if tag not in _VOID:
                self._skip.append(tag)
            return
        style = attributes.get("style", "").replace(" ", "").lower()
        if (
            tag in _SKIP_TAGS
            or "display:none" in style
            or (tag == "sup" and "reference" in attributes.get("class", "").split())
        ):
            if tag not in _VOID:
                self._skip.append(tag)
            return
        if tag == "table":
            table = Table(attributes)
            self.tables.append(table)
            self._stack.append(_Open(table))
            return
        if not self._stack:
            return
        state = self._stack[-1]
        if tag == "tr":
            self._close_row(state)
            state.row = []
        elif tag in ("td", "th"):
            self._close_cell(state)
            if state.row is None:
                state.row = []
            state.cell_parts = []
            state.cell_header = tag == "th"
        elif tag == "br" and state.cell_parts is not None:
            state.cell_parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            # Pop back to the matching start tag, tolerating unclosed tags inside the dropped part.
            if tag in self._skip:
                while self._skip and self._skip.pop() != tag:
                    pass
            return
        if not self._stack:
            return
        state = self._stack[-1]
        if tag == "table":
            self._close_row(state)
            self._stack.pop()
        elif tag == "tr":
            self._close_row(state)
        elif tag in ("td", "th"):
            self._close_cell(state)

    def handle_data(self, data: str) -> None:
        if self._skip or not self._stack:
            return
        state = self._stack[-1]
        if state.cell_parts is not None:
            state.cell_parts.append(data)


def parse_tables(html: str) -> list[Table]:
    """Every table in the document, outer ones before the tables nested inside them."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.tables
