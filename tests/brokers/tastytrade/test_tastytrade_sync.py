"""The adapter against the fake, written into the real ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from foliosync.brokers.base import AccountContext, BrokerDataError, Capability
from foliosync.brokers.registry import get_broker
from foliosync.brokers.tastytrade.adapter import MANIFEST, TastyTradeAdapter
from foliosync.db.session import session_scope
from foliosync.ledger.writer import write_batch
from foliosync.models import (
    Balance,
    BrokerAccount,
    CashTransaction,
    CorporateAction,
    OptionEvent,
    Position,
    RawPayload,
    TaxLot,
    Trade,
    User,
)
from foliosync.sync.lots import refresh_computed_lots
from tests.brokers.tastytrade.conftest import NOW, SECRETS

ACCOUNT = "5WX00001"
TRANSACTIONS = f"/accounts/{ACCOUNT}/transactions"
LEDGER_TABLES = (Trade, CashTransaction, OptionEvent, CorporateAction, Position, Balance, TaxLot, RawPayload)


@pytest.fixture
def adapter(fake, clock, sleeps):
    return TastyTradeAdapter(base_url=fake.url, sleep=sleeps.append, clock=clock)


@pytest.fixture
def account(engine):
    with session_scope(engine) as session:
        user = User(email="tt@example.com", password_hash="x")
        session.add(user)
        session.flush()
        acct = BrokerAccount(
            user_id=user.id, broker="tastytrade", external_account_id=ACCOUNT, alias="Individual"
        )
        session.add(acct)
        session.flush()
        return acct.id, user.id


def context(account_id: int, cursor: dict[str, object] | None = None) -> AccountContext:
    return AccountContext(account_id=account_id, external_account_id=ACCOUNT, cursor=dict(cursor or {}))


def sync_once(engine, adapter, credentials, account, cursor=None):
    """What the sync service does: fetch, then write the batch in one transaction."""
    account_id, user_id = account
    result = adapter.fetch(credentials, context(account_id, cursor), None)
    with session_scope(engine) as session:
        report = write_batch(session, result.batch, {ACCOUNT: account_id}, user_id=user_id).as_dict()
        # TastyTrade reports no lots: the sync service rebuilds them from the whole stored history.
        report["tax_lots"] = refresh_computed_lots(session, session.get(BrokerAccount, account_id), "api")
    return result, report


def counts(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0 for m in LEDGER_TABLES
        }


def test_manifest_is_registered():
    registered = get_broker("tastytrade")
    assert registered.manifest is MANIFEST
    assert [f.name for f in MANIFEST.credential_fields] == ["client_secret", "refresh_token"]
    assert all(f.secret for f in MANIFEST.credential_fields)
    assert MANIFEST.capabilities == {Capability.SYNC, Capability.CONNECT_JOB}


def test_sync_writes_the_ledger_and_a_resync_changes_nothing(engine, adapter, fake, credentials, account):
    fake.page_size_cap = 5  # the fixtures' two pages

    result, first = sync_once(engine, adapter, credentials, account)

    assert {t: first[t]["inserted"] for t in ("trades", "cash_transactions", "option_events")} == {
        "trades": 4,
        "cash_transactions": 4,
        "option_events": 2,
    }
    assert {t: first[t]["inserted"] for t in ("corporate_actions", "positions", "balances", "tax_lots")} == {
        "corporate_actions": 1,
        "positions": 2,
        "balances": 1,
        "tax_lots": 3,
    }
    with session_scope(engine) as session:
        trades = sum(session.scalars(select(Trade.net_amount)), Decimal(0))
        cash = sum(session.scalars(select(CashTransaction.amount)), Decimal(0))
        assert trades + cash == Decimal("-39596.93")
        option = session.scalar(select(Trade).where(Trade.natural_key == "1001"))
        assert (option.quantity, option.net_amount, option.commission) == (
            Decimal(-1),
            Decimal("248.86"),
            Decimal(-1),
        )
        positions = {p.quantity for p in session.scalars(select(Position))}
        assert positions == {Decimal(100), Decimal(-1)}
        # Computed FIFO lots: the assigned put's premium is folded into the shares' basis.
        [open_lot] = session.scalars(select(TaxLot).where(TaxLot.lot_status == "OPEN"))
        assert (open_lot.quantity, open_lot.cost_basis) == (
            Decimal(100),
            Decimal("45000.0") - Decimal("248.86"),
        )
        assert open_lot.opening_trade_key == "1003"
        archived = sorted(p.kind for p in session.scalars(select(RawPayload)))
        assert archived == [
            "tastytrade.balances",
            "tastytrade.positions",
            "tastytrade.transactions",
            "tastytrade.transactions",
        ]
    assert result.next_cursor == {"transactions_since": "2025-02-05"}
    assert result.updated_credentials is not None
    assert result.updated_credentials["access_token"] == "fake-access-token-1"
    assert result.updated_credentials["access_token_expires_at"] == (NOW + timedelta(seconds=900)).isoformat()

    # Within 15 minutes the stored token is reused: no login, nothing new to store.
    again, second = sync_once(engine, adapter, result.updated_credentials, account)

    assert fake.tokens_issued == 1
    assert again.updated_credentials is None
    for table, c in second.items():
        assert (c["inserted"], c["updated"]) == (0, 0), table
    assert counts(engine)["trades"] == 4


def test_a_sync_logs_and_archives_no_secrets(engine, adapter, credentials, account, caplog):
    caplog.set_level(logging.DEBUG)
    sync_once(engine, adapter, credentials, account)
    from foliosync.ledger.writer import read_raw_payload

    assert "tastytrade.token_refreshed" in caplog.text
    assert not any(s in caplog.text for s in (*SECRETS, "fake-access-token"))

    with session_scope(engine) as session:
        payloads = [read_raw_payload(p) for p in session.scalars(select(RawPayload))]
    assert payloads
    assert not any(s.encode() in p for p in payloads for s in (*SECRETS, "fake-access-token"))


def test_incremental_fetch_asks_only_since_the_cursor(adapter, fake, credentials):
    result = adapter.fetch(credentials, context(1, {"transactions_since": "2025-02-01"}), None)

    calls = fake.api_requests(TRANSACTIONS)
    assert calls
    assert {c.param("start-date") for c in calls} == {"2025-01-29"}  # three days of overlap
    assert {t.natural_key for t in result.batch.trades} == set()
    assert {c.natural_key for c in result.batch.cash} == {"1005", "1006", "1007", "1008"}
    assert result.batch.period_start == date(2025, 1, 29)
    # FIFO over a window would invent lots: lots come from the whole ledger (foliosync.sync.lots).
    assert result.batch.lots == []
    assert result.next_cursor == {"transactions_since": "2025-02-05"}


def test_first_fetch_takes_the_whole_history(adapter, fake, credentials):
    result = adapter.fetch(credentials, context(1), None)

    [call] = fake.api_requests(TRANSACTIONS)
    assert call.param("start-date") is None
    assert len(result.batch.trades) + len(result.batch.cash) + len(result.batch.corporate_actions) == 9
    assert result.batch.sections == {"transactions", "positions", "balances"}
    assert result.batch.lots == []


def test_estimated_fees_are_updated_in_place(engine, adapter, fake, credentials, account):
    sync_once(engine, adapter, credentials, account)
    row = next(t for t in fake.transactions[ACCOUNT] if t["id"] == 1001)
    row.update({"commission": "0.5", "net-value": "249.36", "is-estimated-fee": False})

    _result, report = sync_once(engine, adapter, credentials, account)

    assert report["trades"] == {"inserted": 0, "updated": 1, "unchanged": 3}
    with session_scope(engine) as session:
        trade = session.scalar(select(Trade).where(Trade.natural_key == "1001"))
        assert (trade.commission, trade.net_amount, trade.notes) == (Decimal("-0.5"), Decimal("249.36"), None)
    assert counts(engine)["trades"] == 4


def test_malformed_second_page_fails_clearly_and_writes_nothing(engine, adapter, fake, credentials, account):
    fake.page_size_cap = 5
    fake.malformed(TRANSACTIONS, after=1)

    with pytest.raises(BrokerDataError) as caught:
        sync_once(engine, adapter, credentials, account)

    assert "not valid JSON" in caught.value.message
    assert "page-offset=1" in caught.value.message
    assert "Nothing was saved" in (caught.value.hint or "")
    assert not any(s in str(caught.value) for s in SECRETS)
    assert counts(engine) == dict.fromkeys((m.__tablename__ for m in LEDGER_TABLES), 0)


def test_rows_of_another_account_are_refused(adapter, fake, credentials):
    fake.transactions[ACCOUNT][0]["account-number"] = "5WX99999"

    with pytest.raises(BrokerDataError) as caught:
        adapter.fetch(credentials, context(1), None)

    assert "5WX99999" in caught.value.message
