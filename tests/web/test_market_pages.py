"""The scanner page and a symbol's chart, over the demo prices."""

from __future__ import annotations

import re
from urllib.parse import quote_plus

import pytest
from sqlalchemy import select

from foliosync.db.session import session_factory
from foliosync.market.prices.store import load_series
from foliosync.market.scanners.runner import scan
from foliosync.models import User
from foliosync.web.market_pages import stored_symbols
from tests.web.conftest import Browser


@pytest.fixture
def demo_browser(browser: Browser) -> Browser:
    assert browser.post_form("/demo", {}, page="/").status_code == 303
    return browser


def _result_symbols(html: str) -> list[str]:
    table = html.split('id="scan-results"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<a class="sym" href="/symbol/([A-Z.]+)">', table)


def test_the_scanner_lists_presets_and_the_holdings_atr_table_before_a_scan(demo_browser: Browser):
    page = demo_browser.get("/scanner").text
    assert page.count('<option value="') >= 11 + 6  # presets + universes
    assert "Your holdings: ATR and stops" in page
    assert re.search(r'<a class="sym" href="/symbol/AAPL">AAPL</a>', page)
    assert 'data-insert="atr_pct"' in page  # the field reference


def test_a_preset_scan_over_stored_prices_matches_the_scanner_service(demo_browser: Browser, sqlite_engine):
    page = demo_browser.get("/scanner?preset=high_atr_movers&universe=STORED&gate=on&run=1").text
    with session_factory(sqlite_engine)() as session:
        user = session.scalars(select(User)).one()
        expected = scan(session, preset="high_atr_movers", universe=stored_symbols(session), user_id=user.id)
    assert expected.rows
    assert _result_symbols(page) == [r["symbol"] for r in expected.rows]
    assert f"{expected.matched} match" in page
    assert "passed the gate" in page


def test_an_expression_scan_without_the_gate_and_sorted_by_atr_pct(demo_browser: Browser, sqlite_engine):
    expression = "atr_pct > 2.5 and close > sma_200"
    page = demo_browser.get(f"/scanner?expression={quote_plus(expression)}&universe=STORED&run=1").text
    with session_factory(sqlite_engine)() as session:
        expected = scan(session, expression=expression, universe=stored_symbols(session), gate=None)
    assert _result_symbols(page) == [r["symbol"] for r in expected.rows]
    assert "passed the gate" not in page  # the box was unticked (a submitted form without gate=on)
    assert 'name="gate" value="on" checked' not in page


def test_a_bad_filter_says_what_is_wrong(demo_browser: Browser):
    page = demo_browser.get("/scanner?expression=atr_percent+%3E+3&run=1")
    assert page.status_code == 200
    assert 'class="flash flash-error"' in page.text and "atr_percent" in page.text
    assert "atr_percent &gt; 3</textarea>" in page.text  # the filter is kept for editing


def test_the_symbol_page_draws_the_close_with_its_atr_band(demo_browser: Browser, sqlite_engine):
    page = demo_browser.get("/symbol/aapl?range=6m&k=1.5").text
    assert "<h1>AAPL</h1>" in page
    assert '<svg data-series="' in page and 'class="band"' in page and 'class="price-line"' in page
    with session_factory(sqlite_engine)() as session:
        series = load_series(session, ["AAPL"])["AAPL"]
    last_close = f"{series.close[-1]:,.2f}"
    assert f'<span class="big num">{last_close}</span>' in page
    assert "You hold AAPL" in page
    assert 'aria-current="true">6M</a>' in page and "±1.5 ATR(14)" in page


def test_a_symbol_without_prices_says_how_to_get_them(browser: Browser):
    page = browser.get("/symbol/ZZZZ").text
    assert "No daily prices are stored for ZZZZ yet." in page and "foliosync market refresh --prices" in page
    bad = browser.get("/symbol/not-a-ticker!")
    assert bad.status_code == 422 and "is not a US stock ticker" in bad.text
