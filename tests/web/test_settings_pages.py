"""The settings page: account health, forms generated from the registry, add / import / sync /
link / remove, all without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import tests.support.fake_broker  # noqa: F401  (registers "testbroker")
from foliosync.brokers.registry import load_all
from foliosync.db.session import session_factory
from foliosync.models import AccountSync, BrokerAccount, Trade, User
from foliosync.sync.service import wait_for
from foliosync.vault import vault_from_settings
from foliosync.vault.store import has_credentials, open_credentials
from tests.support.api import client_for, make_settings
from tests.web.conftest import FLEX_FIXTURE, Browser, register

SECRET = "flex-token-DO-NOT-ECHO-8842"


def _accounts(engine) -> list[BrokerAccount]:
    with session_factory(engine)() as session:
        accounts = list(session.scalars(select(BrokerAccount).order_by(BrokerAccount.id)))
        session.expunge_all()
    return accounts


def _card(html: str, account_id: int) -> str:
    start = html.index(f'id="account-{account_id}"')
    return html[start : html.index("</article>", start)]


def test_add_forms_are_generated_from_the_broker_registry(browser: Browser):
    page = browser.get("/settings").text
    for name, registered in load_all().items():
        assert f'id="add-{name}"' in page, name
        assert registered.manifest.display_name in page
    tasty = page.split('id="add-tastytrade"', 1)[1].split("</details>", 1)[0]
    assert 'data-connect="tastytrade"' in tasty
    assert re.search(r'type="password" name="cred_client_secret"', tasty)
    assert re.search(r'type="password" name="cred_refresh_token"', tasty)
    ibkr = page.split('id="add-ibkr"', 1)[1].split("</details>", 1)[0]
    assert re.search(r'type="password" name="cred_flex_token"[^>]*required', ibkr)
    assert re.search(r'type="text" name="cred_flex_query_id"', ibkr)  # not a secret: shown as typed
    schwab = page.split('id="add-schwab"', 1)[1].split("</details>", 1)[0]
    assert 'action="/settings/link/schwab"' in schwab and "data-link-form" in schwab
    assert "Add without linking" in schwab  # CSV imports need no link
    robinhood = page.split('id="add-robinhood"', 1)[1].split("</details>", 1)[0]
    assert "cred_password" not in robinhood  # its API sync is off: no password is asked for
    assert 'option value="ibkr-flex"' in page.split('id="import"', 1)[1]


def test_adding_an_account_keeps_its_credentials_encrypted_and_never_shows_them(
    browser, web_settings, sqlite_engine
):
    response = browser.post_form(
        "/settings/accounts",
        {"broker": "ibkr", "alias": "My IBKR", "cred_flex_token": SECRET, "cred_flex_query_id": "991122"},
    )
    (account,) = _accounts(sqlite_engine)
    assert (response.status_code, response.headers["location"]) == (303, f"/settings#account-{account.id}")
    page = browser.get("/settings")
    assert "Added My IBKR (Interactive Brokers)." in page.text and "Sync now" in _card(page.text, account.id)
    assert SECRET not in page.text
    with session_factory(sqlite_engine)() as session:
        creds = open_credentials(session, vault_from_settings(web_settings), account.id)
    assert creds == {"flex_token": SECRET, "flex_query_id": "991122"}
    assert (account.broker, account.alias, account.status) == ("ibkr", "My IBKR", "PENDING")


def test_a_missing_credential_is_explained_and_nothing_is_added(browser: Browser, sqlite_engine):
    response = browser.post_form("/settings/accounts", {"broker": "ibkr", "cred_flex_query_id": "1"})
    assert response.headers["location"] == "/settings#add-ibkr"
    page = browser.get("/settings").text
    assert "Missing Flex Web Service token for Interactive Brokers." in page
    assert _accounts(sqlite_engine) == []
    unknown = browser.post_form("/settings/accounts", {"broker": "nosuchbroker"})
    assert "Unknown broker" in browser.get(unknown.headers["location"]).text


def test_an_import_only_account_needs_no_password(browser: Browser, sqlite_engine):
    browser.post_form("/settings/accounts", {"broker": "robinhood", "alias": "RH"})
    (account,) = _accounts(sqlite_engine)
    assert (account.broker, account.alias) == ("robinhood", "RH")
    card = _card(browser.get("/settings").text, account.id)
    assert "Import files" in card and "Sync now" not in card


def test_importing_a_flex_statement_shows_its_summary_and_fills_the_portfolio(
    browser: Browser, sqlite_engine
):
    browser.post_form(
        "/settings/accounts", {"broker": "ibkr", "cred_flex_token": SECRET, "cred_flex_query_id": "1"}
    )
    (account,) = _accounts(sqlite_engine)
    result = browser.client.post(
        f"/settings/accounts/{account.id}/import",
        data={"csrf_token": browser.form_token(), "format": "ibkr-flex"},
        files={"files": (FLEX_FIXTURE.name, FLEX_FIXTURE.read_bytes(), "application/xml")},
    )
    assert result.status_code == 200, result.text
    assert "Import finished" in result.text and FLEX_FIXTURE.name in result.text
    trades_row = re.search(r"<th scope=\"row\">trades</th><td class=\"num\">(\d+)</td>", result.text)
    assert trades_row and trades_row.group(1) == "3"
    (account,) = _accounts(sqlite_engine)
    assert account.external_account_id == "U1234567"

    portfolio = browser.get("/").text
    # RY is held in CAD: 145,500 at 0.72 to base = 104,760.00 in the consolidated table.
    ry_row = portfolio.split('data-value="RY"', 1)[1].split("</tr>", 1)[0]
    assert "104,760.00" in ry_row
    # Its cost (140,000 CAD) and P&L (+5,500 CAD) are converted with the same rate.
    assert "100,800.00" in ry_row and "+3,960.00" in ry_row and "CAD" in ry_row
    assert 'data-value="TSLA"' in portfolio and "\u2212200" in portfolio  # a short stock position
    # Holdings are worth AAPL 92,750 - TSLA 50,050 + RY 104,760 + calls 16,250, plus the ES future
    # at its open P&L (25,125), not its 2,975,125 notional.
    holdings_kpi = re.search(r'Holdings</span>\s*<span class="kpi-value num">([^<]+)<', portfolio)
    assert holdings_kpi and holdings_kpi.group(1) == "188,835.00"
    es_row = portfolio.split('data-value="ESH5"', 1)[1].split("</tr>", 1)[0]
    assert "2,975,125.00" in es_row and "notional" in es_row

    again = browser.client.post(
        f"/settings/accounts/{account.id}/import",
        data={"csrf_token": browser.form_token(), "format": "ibkr-flex"},
        files={"files": (FLEX_FIXTURE.name, FLEX_FIXTURE.read_bytes(), "application/xml")},
    )
    trades_row = re.search(
        r"<th scope=\"row\">trades</th><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)",
        again.text,
    )
    assert trades_row and trades_row.groups() == ("0", "0", "3")  # re-import: nothing new
    assert 'data-testid="replayed"' in again.text and "not read again" in again.text
    assert 'data-testid="replayed"' not in result.text
    with session_factory(sqlite_engine)() as session:
        assert session.scalar(select(func.count(Trade.id))) == 3


def test_a_bad_file_is_named_and_nothing_is_written(browser: Browser, sqlite_engine):
    response = browser.client.post(
        "/settings/import",
        data={"csrf_token": browser.form_token(), "format": "ibkr-flex"},
        files={"files": ("broken.xml", b"<FlexQueryResponse><oops", "application/xml")},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/settings#import")
    page = browser.get("/settings").text
    assert "broken.xml" in page and 'class="flash flash-error"' in page
    assert _accounts(sqlite_engine) == []
    wrong = browser.post_form("/settings/import", {"format": "ibkr-flex"})
    assert "Choose at least one file to import." in browser.get(wrong.headers["location"]).text


def test_health_warnings_and_the_latest_sync_reason_are_shown(browser: Browser, sqlite_engine):
    now = datetime.now(UTC)
    with session_factory(sqlite_engine)() as session:
        user = session.scalars(select(User)).one()
        due = BrokerAccount(
            user_id=user.id,
            broker="schwab",
            alias="Due soon",
            status="CONNECTED",
            reauth_due_at=now + timedelta(hours=30),
        )
        refused = BrokerAccount(
            user_id=user.id,
            broker="tastytrade",
            alias="Refused",
            status="NEEDS_REAUTH",
            needs_reauth=True,
            reauth_reason="the refresh token was revoked",
        )
        failed = BrokerAccount(
            user_id=user.id, broker="ibkr", alias="Failing", status="CONNECTED", sync_status="FAILED"
        )
        partial = BrokerAccount(user_id=user.id, broker="ibkr", alias="Partial", status="CONNECTED")
        session.add_all([due, refused, failed, partial])
        session.flush()
        session.add_all(
            [
                AccountSync(
                    account_id=failed.id,
                    status="SUCCESS",
                    trigger="schedule",
                    finished_at=now - timedelta(days=1),
                ),
                AccountSync(
                    account_id=failed.id,
                    status="FAILED",
                    trigger="manual",
                    finished_at=now,
                    error_class="BrokerAuthError",
                    error_message="Flex token expired (1012). Renew it in Client Portal.",
                ),
                AccountSync(
                    account_id=partial.id,
                    status="PARTIAL",
                    trigger="schedule",
                    finished_at=now,
                    warnings=["section missing or empty: Trades"],
                ),
            ]
        )
        session.commit()
        ids = (due.id, refused.id, failed.id, partial.id)
    page = browser.get("/settings").text
    assert "Re-link due in 2 days." in _card(page, ids[0])
    assert "Re-link needed: the refresh token was revoked." in _card(page, ids[1])
    failing = _card(page, ids[2])
    assert "Last sync failed: Flex token expired (1012). Renew it in Client Portal." in failing
    assert "Sync history (2)" in failing and failing.count("<tr>") == 3  # header + two syncs
    assert "Last sync was partial: section missing or empty: Trades" in _card(page, ids[3])


def test_sync_now_without_javascript_queues_a_sync_that_completes(browser: Browser, sqlite_engine):
    browser.post_form(
        "/settings/accounts", {"broker": "testbroker", "cred_api_key": "k", "cred_accounts": "T-1"}
    )
    (account,) = _accounts(sqlite_engine)
    response = browser.post_form(f"/settings/accounts/{account.id}/sync", {})
    assert response.headers["location"] == f"/settings#account-{account.id}"
    assert "Sync started." in browser.get("/settings").text
    with session_factory(sqlite_engine)() as session:
        sync_id = session.scalar(select(AccountSync.id).where(AccountSync.account_id == account.id))
    assert wait_for(sqlite_engine, sync_id, timeout=20).status == "SUCCESS"
    card = _card(browser.get("/settings").text, account.id)
    assert "badge-success" in card and "Sync history (1)" in card


def test_removing_an_account_deletes_it(browser: Browser, sqlite_engine):
    browser.post_form("/settings/accounts", {"broker": "fidelity", "alias": "Old"})
    (account,) = _accounts(sqlite_engine)
    browser.post_form(f"/settings/accounts/{account.id}/delete", {})
    assert _accounts(sqlite_engine) == []
    assert "Removed Old and everything imported into it." in browser.get("/settings").text
    gone = browser.post_form(f"/settings/accounts/{account.id}/delete", {})
    assert gone.status_code == 404 and "No such account." in gone.text


def test_schwab_link_without_javascript_goes_to_schwabs_login(sqlite_engine):
    settings = make_settings(
        sqlite_engine.url.render_as_string(hide_password=False),
        schwab_client_id="app-key",
        schwab_client_secret="app-secret",
        schwab_redirect_uri="https://127.0.0.1:8182/api/v1/aggregator/schwab/callback",
        schwab_auth_url="https://schwab.invalid/v1/oauth",
    )
    with client_for(settings) as client:
        register(client)
        browser = Browser(client)
        response = browser.post_form("/settings/link/schwab", {})
        assert response.status_code == 303
        assert response.headers["location"].startswith("https://schwab.invalid/v1/oauth/authorize?")
        assert "client_id=app-key" in response.headers["location"]
    (account,) = _accounts(sqlite_engine)
    assert (account.broker, account.status) == ("schwab", "PENDING")


def test_schwab_link_explains_a_server_without_a_schwab_app(browser: Browser, sqlite_engine):
    response = browser.post_form("/settings/link/schwab", {})
    assert response.headers["location"] == "/settings#add-schwab"
    assert "Linking Schwab accounts is not set up on this server." in browser.get("/settings").text
    assert _accounts(sqlite_engine) == []


@pytest.mark.parametrize(
    "path", ["/settings/accounts/1/sync", "/settings/accounts/1/import", "/settings/import"]
)
def test_another_users_account_is_not_found(browser: Browser, sqlite_engine, web_settings, path):
    with session_factory(sqlite_engine)() as session:
        other = User(email="other@example.com", password_hash="x")
        session.add(other)
        session.flush()
        theirs = BrokerAccount(user_id=other.id, broker="fidelity", alias="Theirs")
        session.add(theirs)
        session.commit()
        their_id = theirs.id
    target = path.replace("/1/", f"/{their_id}/")
    response = browser.post_form(target, {"format": "fidelity"})
    if path == "/settings/import":
        assert response.status_code == 303  # no account named: nothing of theirs is touched
    else:
        assert response.status_code in (303, 404)
        page = (
            response.text if response.status_code == 404 else browser.get(response.headers["location"]).text
        )
        assert "No such account." in page
    with session_factory(sqlite_engine)() as session:
        assert session.get(BrokerAccount, their_id).alias == "Theirs"
        assert not has_credentials(session, their_id)


def test_a_partial_syncs_reason_names_the_reconciliation_differences():
    from foliosync.web.brokers_view import sync_problem

    partial = AccountSync(
        status="PARTIAL",
        warnings=["reconciliation found 4 differences"],
        reconciliation={
            "checked": True,
            "ok": False,
            "differences": [
                {"kind": "cash", "subject": "USD", "difference": "-3952.75"},
                {"kind": "position", "subject": "STK:AAPL:USD", "difference": "10"},
                {"kind": "position", "subject": "STK:RY:CAD", "difference": "-5"},
                {"kind": "position", "subject": "STK:X:USD", "difference": "1"},
            ],
        },
    )
    assert sync_problem(partial) == (
        "Last sync was partial: the ledger differs from the broker's own report (cash USD by -3952.75, "
        "position STK:AAPL:USD by 10, position STK:RY:CAD by -5 and 1 more)"
    )
    assert sync_problem(AccountSync(status="SUCCESS")) is None
    assert (
        sync_problem(AccountSync(status="FAILED", error_class="WorkerLost")) == "Last sync failed: WorkerLost"
    )
