"""Wikipedia constituent tables, the fallback source (marketdata.md C).

Each page has its own layout and the layouts drift, so columns are found by header name, never
by position, and tables by `id="constituents"` first, then by any wikitable whose header row has a
ticker column (C.3: the Dow table is not the first table on its page).
- S&P 500 (C.1): `Symbol | Security | GICS Sector | ...`; the Symbol cell is an external link.
- NASDAQ-100 (C.2): `Ticker | Company | ICB Industry[n] | ...` (older: GICS Sector); footnote
  markers sit inside header text.
- Dow 30 (C.3): `Company | Exchange | Symbol | Industry | ...`; the company is a row header (<th>).
Tickers use the dot form already (BRK.B); they are normalised and validated like every provider's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from foliosync.market.errors import ProviderDataError
from foliosync.market.http import HttpFetcher, RetryPolicy
from foliosync.market.indices import IndexName
from foliosync.market.providers.base import Constituent, ConstituentList
from foliosync.market.providers.html_tables import Cell, Table, parse_tables
from foliosync.market.symbols import is_valid_ticker, normalize_ticker

log = logging.getLogger(__name__)

NAME = "wikipedia"

PAGES: dict[IndexName, str] = {
    IndexName.SP500: "/wiki/List_of_S%26P_500_companies",
    IndexName.NASDAQ100: "/wiki/Nasdaq-100",
    IndexName.DOW30: "/wiki/Dow_Jones_Industrial_Average",
}

_FOOTNOTE = re.compile(r"\[[^\]]*\]")


def normalize_header(text: str) -> str:
    """`ICB Industry[15]` -> `icb industry`."""
    return " ".join(_FOOTNOTE.sub("", text).lower().split())


@dataclass(frozen=True)
class Columns:
    ticker: int
    name: int | None
    sector: int | None
    date_added: int | None


def _find(headers: list[str], *prefixes: str) -> int | None:
    for prefix in prefixes:
        for i, header in enumerate(headers):
            if header.startswith(prefix):
                return i
    return None


def locate_columns(header_row: list[Cell]) -> Columns | None:
    """Columns by header prefix; None when the row has no ticker column."""
    headers = [normalize_header(cell.text) for cell in header_row]
    ticker = _find(headers, "symbol", "ticker")
    if ticker is None:
        return None
    return Columns(
        ticker=ticker,
        name=_find(headers, "security", "company"),
        sector=_find(headers, "gics sector", "icb industry", "sector", "industry"),
        date_added=_find(headers, "date added", "date first added"),
    )


def _candidates(tables: list[Table]) -> list[Table]:
    by_id = [t for t in tables if t.id == "constituents"]
    wikitables = [t for t in tables if "wikitable" in t.classes and t not in by_id]
    return by_id + wikitables


def _cell(row: list[Cell], index: int | None) -> str | None:
    if index is None or index >= len(row):
        return None
    text = _FOOTNOTE.sub("", row[index].text).strip()
    return text or None


def parse_constituents(index: IndexName, html: str) -> ConstituentList:
    """The first candidate table whose first row is a header with a ticker column.

    Only the first row counts as the header: the S&P page's changes table has `Ticker` in its
    second header row and must not be mistaken for the constituents.
    """
    tables = parse_tables(html)
    for table in _candidates(tables):
        if not table.rows or not all(cell.header for cell in table.rows[0]):
            continue
        columns = locate_columns(table.rows[0])
        if columns is None:
            continue
        members: dict[str, Constituent] = {}
        rejected: list[str] = []
        for row in table.rows[1:]:
            raw = _cell(row, columns.ticker)
            if raw is None:
                continue
            symbol = normalize_ticker(raw)
            if not is_valid_ticker(symbol):
                rejected.append(raw)
                continue
            members[symbol] = Constituent(
                symbol=symbol,
                name=_cell(row, columns.name),
                sector=_cell(row, columns.sector),
                date_added=_cell(row, columns.date_added),
            )
        if rejected:
            log.warning("wikipedia %s: rejected tickers %s", index.value, rejected)
        if members:
            return ConstituentList(index, NAME, tuple(members.values()), tuple(rejected))
    raise ProviderDataError(
        NAME,
        f"{index.value}: no table with a Symbol/Ticker column on {PAGES[index]} ({len(tables)} tables found)",
        hint="The page layout changed; the last good list is kept. Update foliosync.market.providers.wikipedia.",
    )


class WikipediaClient:
    """Fetches the HTML itself (with a descriptive User-Agent, C) and parses it locally."""

    name = NAME

    def __init__(
        self,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"retry": retry}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self._http = HttpFetcher(NAME, base_url, **kwargs)

    @property
    def calls(self) -> int:
        return self._http.calls

    def fetch_constituents(self, index: IndexName) -> ConstituentList:
        response = self._http.fetch(PAGES[index])
        html = response.body.decode("utf-8", errors="replace")
        return parse_constituents(index, html)

    def close(self) -> None:
        self._http.close()
