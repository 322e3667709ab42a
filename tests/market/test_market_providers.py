"""Provider clients against loopback fakes speaking the real wire formats (marketdata.md A, B, C)."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

import pytest

from foliosync.market.errors import (
    ProviderAuthError,
    ProviderDataError,
    ProviderNotConfigured,
    ProviderPlanError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from foliosync.market.http import RetryPolicy
from foliosync.market.indices import IndexName
from foliosync.market.providers import wikipedia
from foliosync.market.providers.fmp import CONSTITUENT_PATHS, EOD_PATH, FmpClient
from foliosync.market.providers.polygon import PolygonClient
from foliosync.market.providers.wikipedia import WikipediaClient
from foliosync.market.providers.yfinance import rows_to_bars
from tests.fakes.fmp_server import make_bars
from tests.fakes.polygon_server import agg_from_fmp_row
from tests.fakes.wikipedia_server import FRAGMENT, PageOptions

from .conftest import DOW30, NASDAQ100, SP500, fmp_client, polygon_client, wiki_client

SP500_PATH = CONSTITUENT_PATHS[IndexName.SP500]


# --- FMP ---------------------------------------------------------------------------------------


def test_fmp_constituents_use_stable_paths_and_dot_spelling(fmp):
    client = fmp_client(fmp)
    result = client.fetch_constituents(IndexName.SP500)
    assert len(result.members) == 503
    assert "BRK.B" in result.symbols and "BF.B" in result.symbols
    assert {"GOOGL", "GOOG", "FOXA", "FOX", "NWSA", "NWS"} <= set(result.symbols)
    assert not any("-" in s for s in result.symbols)
    brk = next(m for m in result.members if m.symbol == "BRK.B")
    assert brk.name == "BRK.B Holdings, Inc." and brk.sector in (
        "Technology",
        "Healthcare",
        "Financial Services",
    )
    assert len(client.fetch_constituents(IndexName.NASDAQ100).members) == 101
    assert client.fetch_constituents(IndexName.DOW30).symbols == DOW30
    paths = [p for p, _ in fmp.requests]
    assert paths == [SP500_PATH, "/stable/nasdaq-constituent", "/stable/dowjones-constituent"]
    assert all(not p.startswith("/api/v3") for p in paths)


def test_fmp_null_date_first_added_is_kept_as_none(fmp):
    members = fmp_client(fmp).fetch_constituents(IndexName.NASDAQ100).members
    assert members[3].date_added is None  # constituent_row gives i % 17 == 3 a null
    assert members[0].date_added == "1990-01-01"


def test_fmp_429_without_retry_after_is_retried_with_backoff(fmp):
    waits: list[float] = []
    client = FmpClient(
        fmp.url,
        fmp.api_key,
        calls_per_minute=1e6,
        retry=RetryPolicy(max_retries=3, backoff_seconds=0.5),
        sleep=waits.append,
    )
    fmp.script(SP500_PATH, 429, 429)
    assert len(client.fetch_constituents(IndexName.SP500).members) == 503
    assert waits == [0.5, 1.0]
    assert len(fmp.requests_to(SP500_PATH)) == 3


def test_fmp_429_that_never_ends_is_reported_as_rate_limited(fmp):
    client = fmp_client(fmp)
    fmp.script(SP500_PATH, 429, 429, 429)
    with pytest.raises(ProviderRateLimited) as error:
        client.fetch_constituents(IndexName.SP500)
    assert "HTTP 429" in error.value.message and "Limit Reach" in error.value.message
    assert len(fmp.requests_to(SP500_PATH)) == 3  # one try + two retries, then give up


@pytest.mark.parametrize("status", [402, 403])
def test_fmp_plan_errors_are_not_retried(fmp, status):
    client = fmp_client(fmp)
    fmp.script(SP500_PATH, status)
    with pytest.raises(ProviderPlanError) as error:
        client.fetch_constituents(IndexName.SP500)
    assert f"HTTP {status}" in error.value.message
    assert "plan" in (error.value.hint or "")
    assert len(fmp.requests_to(SP500_PATH)) == 1


def test_fmp_bad_key_empty_answer_and_garbage(fmp):
    with pytest.raises(ProviderAuthError):
        fmp_client(fmp, key="wrong-key").fetch_constituents(IndexName.DOW30)
    with pytest.raises(ProviderNotConfigured, match="no API key"):
        FmpClient(fmp.url, None).fetch_constituents(IndexName.DOW30)
    client = fmp_client(fmp)
    fmp.script("/stable/dowjones-constituent", "empty", "garbage")
    assert client.fetch_constituents(IndexName.DOW30).members == ()
    with pytest.raises(ProviderDataError, match="not JSON"):
        client.fetch_constituents(IndexName.DOW30)


def test_fmp_key_never_reaches_errors_or_logs(fmp, caplog):
    caplog.set_level(logging.DEBUG)
    client = fmp_client(fmp)
    fmp.script(SP500_PATH, 402)
    with pytest.raises(ProviderPlanError) as error:
        client.fetch_constituents(IndexName.SP500)
    client.fetch_constituents(IndexName.DOW30)
    assert fmp.api_key not in str(error.value)
    assert fmp.api_key not in repr(client)
    assert any("apikey=***" in r.getMessage() for r in caplog.records if r.name == "httpx")
    assert all(fmp.api_key not in r.getMessage() for r in caplog.records)


def test_fmp_daily_bars_sorted_exact_and_dash_spelled_on_the_wire(fmp):
    rows = make_bars("BRK.B", date(2024, 1, 2), 30)
    fmp.set_bars("BRK.B", rows)
    bars = fmp_client(fmp).fetch_daily_bars("BRK.B", date(2024, 1, 10), date(2024, 2, 1))
    expected = [r for r in rows if "2024-01-10" <= r["date"] <= "2024-02-01"]
    assert [b.bar_date.isoformat() for b in bars] == [r["date"] for r in expected]  # ascending
    assert bars[0].close == Decimal(str(expected[0]["close"]))
    assert all(b.symbol == "BRK.B" and b.source == "fmp" for b in bars)
    assert fmp.requests_to(EOD_PATH)[0]["symbol"] == "BRK-B"
    assert fmp.requests_to(EOD_PATH)[0]["from"] == "2024-01-10"


def test_fmp_long_histories_are_paged_under_the_5000_row_cap(fmp):
    rows = make_bars("AAPL", date(1990, 1, 2), 9_000)
    fmp.set_bars("AAPL", rows)
    bars = fmp_client(fmp).fetch_daily_bars("AAPL", date(1990, 1, 2), date(2024, 12, 31))
    assert len(bars) == 9_000
    assert len(fmp.requests_to(EOD_PATH)) == 2
    assert len({b.bar_date for b in bars}) == 9_000


def test_network_failure_is_unavailable_with_a_next_step():
    client = FmpClient("http://127.0.0.1:9", "k", calls_per_minute=1e6, retry=RetryPolicy(max_retries=0))
    with pytest.raises(ProviderUnavailable) as error:
        client.fetch_constituents(IndexName.DOW30)
    assert "cannot reach" in error.value.message and "retry later" in (error.value.hint or "")


# --- Polygon -----------------------------------------------------------------------------------


def test_polygon_aggregates_use_bearer_auth_dot_spelling_and_new_york_dates(polygon):
    rows = make_bars("BRK.B", date(2024, 3, 1), 40)
    polygon.set_bars("BRK.B", [agg_from_fmp_row(r) for r in rows])
    bars = polygon_client(polygon).fetch_daily_bars("BRK.B", date(2024, 3, 1), date(2024, 4, 30))
    assert [b.bar_date.isoformat() for b in bars] == [r["date"] for r in rows]
    assert bars[5].high == Decimal(str(rows[5]["high"]))
    assert bars[5].volume == rows[5]["volume"]
    path, params, headers = polygon.requests[0]
    assert path == "/v2/aggs/ticker/BRK.B/range/1/day/2024-03-01/2024-04-30"
    assert params == {"adjusted": "true", "sort": "asc", "limit": "50000"}
    assert headers["Authorization"] == f"Bearer {polygon.api_key}"


def test_polygon_follows_next_url_on_the_configured_host(polygon):
    rows = make_bars("MSFT", date(2024, 1, 2), 25)
    polygon.set_bars("MSFT", [agg_from_fmp_row(r) for r in rows])
    polygon.page_size = 10
    bars = polygon_client(polygon).fetch_daily_bars("MSFT", date(2024, 1, 1), date(2024, 3, 1))
    assert len(bars) == 25
    assert [p["cursor"] for _, p, _ in polygon.requests[1:]] == ["10", "20"]


def test_polygon_omitted_results_and_delayed_status(polygon):
    client = polygon_client(polygon)
    assert client.fetch_daily_bars("NOPE", date(2024, 1, 1), date(2024, 1, 31)) == []
    polygon.status = "DELAYED"
    polygon.set_bars("AAPL", [agg_from_fmp_row(r) for r in make_bars("AAPL", date(2024, 1, 2), 3)])
    assert len(client.fetch_daily_bars("AAPL", date(2024, 1, 1), date(2024, 1, 31))) == 3


def test_polygon_errors(polygon):
    client = polygon_client(polygon)
    polygon.script(403)
    with pytest.raises(ProviderPlanError, match="not entitled"):
        client.fetch_daily_bars("AAPL", date(2024, 1, 1), date(2024, 1, 31))
    polygon.script(429, 429, 429)
    with pytest.raises(ProviderRateLimited, match="exceeded the maximum requests"):
        client.fetch_daily_bars("AAPL", date(2024, 1, 1), date(2024, 1, 31))
    with pytest.raises(ProviderAuthError):
        polygon_client(polygon, key="bad").fetch_daily_bars("AAPL", date(2024, 1, 1), date(2024, 1, 31))
    with pytest.raises(ProviderNotConfigured):
        PolygonClient(polygon.url, None).fetch_daily_bars("AAPL", date(2024, 1, 1), date(2024, 1, 31))


# --- Wikipedia ---------------------------------------------------------------------------------


def test_wikipedia_real_fragment_rows_parse():
    """The six complete real rows; the truncated first row (a city in the Symbol column) is rejected."""
    fragment = FRAGMENT.read_text()
    header = "<tr><th>Symbol</th><th>Security</th><th>GICS Sector</th><th>GICS Sub-Industry</th></tr>"
    page = fragment.replace("<tbody>\n<tr>", "<tbody>\n" + header + "\n<tr>", 1)
    result = wikipedia.parse_constituents(IndexName.SP500, page)
    assert result.symbols == ["CTAS", "CSCO", "C", "CFG", "CLX", "CME"]
    assert result.members[0].name == "Cintas" and result.members[0].sector == "Industrials"
    assert result.rejected == ("Fairfield, Ohio",)


def test_wikipedia_pages_of_all_three_indices(wiki):
    client = wiki_client(wiki)
    sp = client.fetch_constituents(IndexName.SP500)
    assert sp.symbols == SP500 and "BRK.B" in sp.symbols
    cme = next(m for m in sp.members if m.symbol == "CME")
    assert (cme.name, cme.sector, cme.date_added) == ("CME Group", "Financials", "2006-08-11")
    nd = client.fetch_constituents(IndexName.NASDAQ100)
    assert nd.symbols == NASDAQ100 and nd.members[0].sector == "Technology"
    dow = client.fetch_constituents(IndexName.DOW30)
    assert (
        dow.symbols == DOW30
        and dow.members[0].name == "GS Company"
        and dow.members[0].sector == "Conglomerate"
    )
    assert all(agent.startswith("foliosync/") for _, agent in wiki.requests)


def test_wikipedia_older_nasdaq_layout_and_a_table_without_its_id(wiki):
    wiki.options["NASDAQ100"] = PageOptions(nasdaq_style="gics", drop_id=True)
    wiki.options["SP500"] = PageOptions(drop_id=True)  # header search must skip the `changes` table
    client = wiki_client(wiki)
    assert client.fetch_constituents(IndexName.NASDAQ100).symbols == NASDAQ100
    assert client.fetch_constituents(IndexName.SP500).symbols == SP500


def test_wikipedia_changed_layout_is_a_data_error(wiki):
    wiki.options["DOW30"] = PageOptions(ticker_header="Code")
    with pytest.raises(ProviderDataError) as error:
        wiki_client(wiki).fetch_constituents(IndexName.DOW30)
    assert "no table with a Symbol/Ticker column" in error.value.message
    assert "last good list is kept" in (error.value.hint or "")


def test_wikipedia_http_errors(wiki):
    wiki.status["SP500"] = 503
    client = WikipediaClient(wiki.url, retry=RetryPolicy(max_retries=1, backoff_seconds=0))
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        client.fetch_constituents(IndexName.SP500)


# --- yfinance transform ------------------------------------------------------------------------


def test_yfinance_rows_skip_nulls_and_keep_six_decimals():
    rows = [
        (date(2024, 1, 2), 10.1234567, 11.0, 9.5, 10.5, 1000.0),
        (date(2024, 1, 3), None, 11.0, 9.5, 10.5, 1000.0),
        (date(2024, 1, 4), 10.0, 11.0, 9.5, float("nan"), 1000.0),
        (date(2024, 1, 5), 10.0, 11.0, 9.5, 10.25, float("nan")),
    ]
    bars = rows_to_bars("BRK.B", rows, date(2024, 1, 1), date(2024, 1, 31))
    assert [b.bar_date.day for b in bars] == [2, 5]
    assert bars[0].open == Decimal("10.123457") and bars[1].volume == 0
    assert all(b.source == "yfinance" for b in bars)
