"""The portfolio and transactions pages, and the demo buttons, through the real app."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from foliosync.db.session import session_factory
from foliosync.models import BrokerAccount, CashTransaction, User
from foliosync.portfolio.allocation import latest_cash
from foliosync.portfolio.holdings import consolidated_holdings
from foliosync.web.formatting import number, signed
from tests.web.conftest import Browser

D = Decimal


def _user_and_accounts(engine):
    with session_factory(engine)() as session:
        user = session.scalars(select(User)).one()
        accounts = list(session.scalars(select(BrokerAccount).order_by(BrokerAccount.id)))
        session.expunge_all()
    return user, accounts


def _kpi(html: str, label: str) -> str:
    match = re.search(
        rf'<span class="kpi-label">{re.escape(label)}</span>\s*<span class="kpi-value[^"]*">([^<]+)</span>',
        html,
    )
    assert match, label
    return match.group(1)


def test_first_run_says_how_to_start_and_offers_the_demo(browser: Browser):
    page = browser.get("/")
    assert page.status_code == 200
    assert "Nothing here yet" in page.text
    assert 'href="/settings#add"' in page.text and 'href="/settings#import"' in page.text
    assert '<form method="post" action="/demo">' in page.text and "Load the demo data" in page.text


def test_the_demo_button_fills_the_portfolio_with_figures_that_match_the_ledger(
    browser: Browser, sqlite_engine
):
    loaded = browser.post_form("/demo", {}, page="/")
    assert (loaded.status_code, loaded.headers["location"]) == (303, "/")
    page = browser.get("/")
    assert "Demo loaded: 3 accounts" in page.text and "demo data" in page.text

    user, accounts = _user_and_accounts(sqlite_engine)
    with session_factory(sqlite_engine)() as session:
        holdings = consolidated_holdings(session, user.id)
        cash = sum(latest_cash(session, [a.id for a in accounts]).values(), D(0))
    market = sum((h.market_value_base for h in holdings), D(0))
    pnl = sum((h.unrealized_pnl for h in holdings if h.unrealized_pnl is not None), D(0))
    assert _kpi(page.text, "Holdings") == number(market)
    assert _kpi(page.text, "Cash") == number(cash)
    assert _kpi(page.text, "Net worth") == number(market + cash)
    assert _kpi(page.text, "Unrealized P&amp;L") == signed(pnl)

    table = page.text.split('id="holdings"', 1)[1].split("</table>", 1)[0]
    assert table.count('<th scope="row" data-value=') == len(holdings)
    top = holdings[0]
    assert f'data-value="{top.symbol}"' in table and number(top.market_value_base) in table
    # Charts are pictures: three donuts and the income bars, each an accessible SVG.
    for chart_id in ("alloc-asset_class", "alloc-account", "alloc-sector", "income"):
        assert f'<svg id="{chart_id}"' in page.text
        assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in page.text
    assert page.text.count('class="donut-slice"') >= 3 + 3 + 5
    assert "Not drawn (net short or negative)" in page.text  # the short AAPL call
    assert "Recent transactions" in page.text and page.text.count("<time datetime=") >= 8


def test_the_account_filter_narrows_everything_and_refuses_other_users_accounts(
    browser: Browser, sqlite_engine
):
    browser.post_form("/demo", {}, page="/")
    user, accounts = _user_and_accounts(sqlite_engine)
    fidelity = next(a for a in accounts if a.broker == "fidelity")
    page = browser.get(f"/?account={fidelity.id}")
    with session_factory(sqlite_engine)() as session:
        held = consolidated_holdings(session, user.id, fidelity.id)
    assert sorted(h.symbol for h in held) == ["BND", "FXAIX"]
    table = page.text.split('id="holdings"', 1)[1].split("</table>", 1)[0]
    assert table.count('<th scope="row" data-value=') == 2
    assert f'<option value="{fidelity.id}" selected>' in page.text
    missing = browser.get("/?account=999999")
    assert missing.status_code == 404 and "No such account." in missing.text


def test_transactions_filter_by_kind_symbol_account_and_dates(browser: Browser, sqlite_engine):
    browser.post_form("/demo", {}, page="/")
    _user, accounts = _user_and_accounts(sqlite_engine)
    ibkr = next(a for a in accounts if a.broker == "ibkr")
    with session_factory(sqlite_engine)() as session:
        expected = session.scalar(
            select(func.count(CashTransaction.id)).where(
                CashTransaction.account_id == ibkr.id, CashTransaction.kind == "WITHHOLDING_TAX"
            )
        )
        first_tax_day = session.scalar(
            select(func.min(CashTransaction.posted_date)).where(CashTransaction.kind == "WITHHOLDING_TAX")
        )
    page = browser.get(f"/transactions?kind=withholding_tax&account={ibkr.id}")
    assert f"<h2>{expected} transactions</h2>" in page.text
    body = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == expected and body.count("Withholding tax") == expected
    assert 'option value="WITHHOLDING_TAX" selected' in page.text

    one_symbol = browser.get("/transactions?symbol=nvs&kind=DIVIDEND")
    body = one_symbol.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr") == 1 and ">NVS</a>" in body  # NVS pays once a year

    dated = browser.get(f"/transactions?kind=WITHHOLDING_TAX&start={first_tax_day}&end={first_tax_day}")
    assert first_tax_day.isoformat() in dated.text and "0 transactions" not in dated.text
    bad = browser.get("/transactions?start=13/45/2025")
    assert "A date was not understood" in bad.text


def test_transactions_page_through_newest_first(browser: Browser, sqlite_engine):
    browser.post_form("/demo", {}, page="/")
    first = browser.get("/transactions")
    total = int(re.search(r"<h2>(\d+) transactions</h2>", first.text).group(1))
    pages = (total + 49) // 50
    assert f"Page 1 of {pages}" in first.text and 'rel="next" href="?page=2"' in first.text
    last = browser.get(f"/transactions?page={pages}")
    rows = last.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr")
    assert rows == total - 50 * (pages - 1)
    days = re.findall(r'<time datetime="(\d{4}-\d\d-\d\d)">', first.text)
    assert days == sorted(days, reverse=True)


def test_removing_the_demo_empties_the_portfolio_again(browser: Browser, sqlite_engine):
    browser.post_form("/demo", {}, page="/")
    removed = browser.post_form("/demo/remove", {})
    assert removed.headers["location"] == "/settings"
    assert "Removed 3 demo accounts" in browser.get("/settings").text
    assert "Nothing here yet" in browser.get("/").text


def test_submitted_filter_forms_with_empty_fields_work_and_bad_values_get_a_page(browser: Browser):
    browser.post_form("/demo", {}, page="/")
    everything = browser.get("/?account=")  # the filter's "All accounts" option
    assert everything.status_code == 200 and "All 3 accounts" in everything.text
    blank = browser.get("/transactions?start=&end=&kind=&symbol=&account=")
    assert blank.status_code == 200 and "A date was not understood" not in blank.text
    assert browser.get("/?account=abc").status_code == 404
    bad_page = browser.get("/transactions?page=many")
    assert bad_page.status_code == 422 and "<html" in bad_page.text
    assert "Some values in the address or form were not understood: page." in bad_page.text
