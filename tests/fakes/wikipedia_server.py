"""Loopback fake of the three English Wikipedia pages foliosync reads (shared/docs/marketdata.md C).

Pages are built from the real row structure (tests/data/market/wikipedia/, CC BY-SA 4.0): the S&P 500
Symbol cell is an external nasdaq.com / nyse.com link with a trailing newline; the S&P page also has a
`changes` table with two header rows; the NASDAQ-100 header carries footnote markers
(`ICB Industry<sup class="reference">[15]</sup>`); the Dow table is not the first table and its company
cell is a row header. The six complete real S&P rows of the fragment are embedded verbatim.
Layout changes are switches: `drop_id`, `ticker_header`, `truncate_to`.
Generic library User-Agents get 403, as Wikipedia may answer them.
"""

from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "market" / "wikipedia"
FRAGMENT = DATA / "sp500_en_wikipedia_table_rows_fragment.html"

PATHS = {
    "SP500": "/wiki/List_of_S%26P_500_companies",
    "NASDAQ100": "/wiki/Nasdaq-100",
    "DOW30": "/wiki/Dow_Jones_Industrial_Average",
}

# dow_jones_excerpts.txt: the current 30 (slickcharts copy, 2025).
DOW_30 = (
    "GS MSFT CAT HD UNH AXP V SHW IBM MCD JPM AMGN TRV AAPL CRM AMZN BA HON JNJ NVDA MMM CVX PG DIS WMT MRK "
    "CSCO KO NKE VZ"
).split()


def real_sp500_rows() -> list[tuple[str, str]]:
    """(symbol, verbatim <tr> html) for each complete row of the real fragment."""
    text = FRAGMENT.read_text()
    rows = re.findall(r"<tr>\n(<td><a rel=\"nofollow\".*?</td></tr>)", text, flags=re.S)
    result = []
    for row in rows:
        symbol = re.search(r">([A-Z.]+)</a>\n</td>", row)
        assert symbol is not None
        result.append((symbol.group(1), "<tr>\n" + row))
    return result


def _symbol_link(symbol: str, i: int) -> str:
    if i % 2:
        href = f"https://www.nasdaq.com/market-activity/stocks/{symbol.lower()}"
    else:
        href = f"https://www.nyse.com/quote/XNYS:{symbol.replace('.', '')}"
    return f'<a rel="nofollow" class="external text" href="{href}">{html.escape(symbol)}</a>'


@dataclass
class PageOptions:
    drop_id: bool = False  # the table loses id="constituents"
    ticker_header: str | None = None  # rename the Symbol/Ticker header (e.g. "Code": layout changed)
    truncate_to: int | None = None  # serve only the first N rows
    nasdaq_style: str = "icb"  # icb (2025-26) or gics (older)


@dataclass
class FakeWikipedia:
    sp500: list[str] = field(default_factory=list)
    nasdaq100: list[str] = field(default_factory=list)
    dow30: list[str] = field(default_factory=lambda: list(DOW_30))
    options: dict[str, PageOptions] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    # --- pages ---------------------------------------------------------------------------------

    def page(self, index: str) -> str:
        opts = self.options.get(index, PageOptions())
        if index == "SP500":
            return self._sp500(opts)
        if index == "NASDAQ100":
            return self._nasdaq(opts)
        return self._dow(opts)

    @staticmethod
    def _table_open(opts: PageOptions) -> str:
        table_id = "" if opts.drop_id else ' id="constituents"'
        return f'<table class="wikitable sortable sticky-header"{table_id}>'

    @staticmethod
    def _wrap(title: str, body: str) -> str:
        return (
            '<!DOCTYPE html>\n<html class="client-nojs" lang="en" dir="ltr">\n<head>\n<meta charset="UTF-8">\n'
            f"<title>{html.escape(title)} - Wikipedia</title>\n"
            '<link rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/deed.en">\n</head>\n<body>\n'
            '<div class="mw-content-ltr mw-parser-output" lang="en" dir="ltr">\n'
            '<table class="infobox"><tbody><tr><th>Foundation</th><td>1957</td></tr></tbody></table>\n'
            f"{body}\n</div>\n</body></html>\n"
        )

    def _sp500(self, opts: PageOptions) -> str:
        symbols = self.sp500[: opts.truncate_to] if opts.truncate_to else self.sp500
        real = dict(real_sp500_rows())
        header = opts.ticker_header or "Symbol"
        rows = [
            "<tr>\n"
            f'<th>{header}</th>\n<th>Security</th>\n<th><a href="/wiki/Global_Industry_Classification_Standard" '
            'title="Global Industry Classification Standard">GICS</a>&#160;Sector</th>\n<th>GICS Sub-Industry</th>\n'
            "<th>Headquarters Location</th>\n<th>Date added</th>\n<th>CIK</th>\n<th>Founded</th>\n</tr>"
        ]
        for i, symbol in enumerate(symbols):
            if symbol in real:
                rows.append(real[symbol])
                continue
            rows.append(
                "<tr>\n"
                f"<td>{_symbol_link(symbol, i)}\n</td>\n"
                f'<td><a href="/wiki/{symbol}_Corp" title="{symbol} Corp">{symbol} Corp</a></td>\n'
                "<td>Industrials</td>\n<td>Industrial Conglomerates</td>\n"
                '<td><a href="/wiki/Saint_Paul,_Minnesota" title="Saint Paul, Minnesota">Saint Paul, Minnesota</a></td>\n'
                f"<td>1957-03-04</td>\n<td>{66740 + i:010d}</td>\n<td>1902\n</td></tr>"
            )
        constituents = self._table_open(opts) + "\n<tbody>" + "\n".join(rows) + "\n</tbody></table>"
        changes = (
            '<table class="wikitable sortable" id="changes"><tbody>\n'
            '<tr><th rowspan="2">Effective Date</th><th colspan="2">Added</th><th colspan="2">Removed</th>'
            '<th rowspan="2">Reason</th></tr>\n'
            "<tr><th>Ticker</th><th>Security</th><th>Ticker</th><th>Security</th></tr>\n"
            "<tr><td>March 23, 2026</td><td>COHR</td><td>Coherent</td><td>ZZZ</td><td>Old Co</td>"
            "<td>Market capitalization change.</td></tr>\n"
            "</tbody></table>"
        )
        lead = (
            "<p>The S&amp;P 500 ... comprises 503 common stocks which are issued by 500 large-cap companies"
            '<sup id="cite_ref-1" class="reference"><a href="#cite_note-1">[1]</a></sup>.</p>'
        )
        return self._wrap("List of S&P 500 companies", lead + constituents + changes)

    def _nasdaq(self, opts: PageOptions) -> str:
        symbols = self.nasdaq100[: opts.truncate_to] if opts.truncate_to else self.nasdaq100
        header = opts.ticker_header or "Ticker"
        if opts.nasdaq_style == "icb":
            cols = (
                'ICB Industry<sup id="cite_ref-icb_15-0" class="reference"><a href="#cite_note-icb-15">[15]</a></sup>',
                'ICB Subsector<sup id="cite_ref-icb_15-1" class="reference"><a href="#cite_note-icb-15">[15]</a></sup>',
            )
        else:
            cols = ('<a href="/wiki/GICS" title="GICS">GICS</a> Sector', "GICS Sub-Industry")
        rows = [f"<tr>\n<th>{header}</th>\n<th>Company</th>\n<th>{cols[0]}</th>\n<th>{cols[1]}</th></tr>"]
        for symbol in symbols:
            rows.append(
                f"<tr>\n<td>{html.escape(symbol)}</td>\n"
                f'<td><a href="/wiki/{symbol}_Inc." title="{symbol} Inc.">{symbol} Inc.</a></td>\n'
                "<td>Technology</td>\n<td>Software</td></tr>"
            )
        table = self._table_open(opts) + "\n<tbody>" + "\n".join(rows) + "\n</tbody></table>"
        return self._wrap("Nasdaq-100", "<p>The Nasdaq-100 is a stock market index...</p>" + table)

    def _dow(self, opts: PageOptions) -> str:
        symbols = self.dow30[: opts.truncate_to] if opts.truncate_to else self.dow30
        header = opts.ticker_header or "Symbol"
        first = (
            '<table class="wikitable"><tbody><tr><th>Year</th><th>Closing level</th><th>Change in index</th></tr>\n'
            "<tr><td>2024</td><td>42,544.22</td><td>5,854.68</td></tr></tbody></table>"
        )
        rows = [
            "<tr>\n<th>Company</th>\n<th>Exchange</th>\n"
            f"<th>{header}</th>\n<th>Industry</th>\n<th>Date added</th>\n<th>Notes</th>\n"
            '<th>Index weighting<sup class="reference"><a href="#cite_note-9">[9]</a></sup></th></tr>'
        ]
        for i, symbol in enumerate(symbols):
            exchange = "NASDAQ" if i % 3 == 0 else "NYSE"
            rows.append(
                f'<tr>\n<th scope="row"><a href="/wiki/{symbol}_Company" title="{symbol}">{symbol} Company</a></th>\n'
                f'<td><a href="/wiki/{exchange}" title="{exchange}">{exchange}</a></td>\n'
                f"<td>{_symbol_link(symbol, i)}</td>\n<td>Conglomerate</td>\n<td>1976-08-09</td>\n"
                f'<td><span style="display:none">zz</span>as {symbol}</td>\n<td>{(i + 1) * 0.5:.2f}%</td></tr>'
            )
        caption = "<caption>DJIA component companies, showing trading exchange, ticker symbols and industry</caption>"
        table = self._table_open(opts) + caption + "\n<tbody>" + "\n".join(rows) + "\n</tbody></table>"
        return self._wrap("Dow Jones Industrial Average", first + table)

    # --- server --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeWikipedia:
        fake = self
        by_path = {path: index for index, path in PATHS.items()}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                agent = self.headers.get("User-Agent", "")
                fake.requests.append((self.path, agent))
                index = by_path.get(self.path)
                if agent.startswith(("python-requests", "python-httpx", "Python-urllib")):
                    status, body = 403, b"Please set a user-agent and respect our robot policy."
                elif index is None:
                    status, body = 404, b"<html><body>No such page</body></html>"
                elif fake.status.get(index):
                    status, body = fake.status[index], b"<html><body>Error</body></html>"
                else:
                    status, body = 200, fake.page(index).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
