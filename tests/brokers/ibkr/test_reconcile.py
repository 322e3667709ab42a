"""ledger.reconcile, tested directly on hand-made batches (it is generic: any broker, any source)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from foliosync.ledger.reconcile import reconcile_account
from foliosync.ledger.records import (
    AccountInfo,
    BalanceRecord,
    Batch,
    CashRecord,
    CorporateActionRecord,
    InstrumentRef,
    PositionRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    Broker,
    CashKind,
    CorporateActionKind,
    FlowScope,
    RecordStatus,
    SourceFormat,
    TradeKind,
    TransferDirection,
)
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, User

ACME = InstrumentRef(AssetCategory.STK, "ACME", "USD")
EURUSD = InstrumentRef(AssetCategory.CASH, "EUR.USD", "USD")
ACCOUNT = "5WX12345"


@pytest.fixture
def account(session: Session) -> BrokerAccount:
    owner = User(email="r@example.com", password_hash="x")
    session.add(owner)
    session.flush()
    acct = BrokerAccount(user_id=owner.id, broker="tastytrade", external_account_id=ACCOUNT, alias="T")
    session.add(acct)
    session.commit()
    return acct


def _batch(start: date, *, opened: date | None = None, source: SourceFormat = SourceFormat.API) -> Batch:
    details = {"date_opened": opened.isoformat()} if opened else {}
    return Batch(
        broker=Broker.TASTYTRADE,
        source=source,
        period_start=start,
        period_end=date(2025, 3, 31),
        accounts=[AccountInfo(ACCOUNT, "USD", details=details)],
    )


def _trade(
    key: str,
    day: date,
    quantity: str,
    price: str = "10",
    *,
    status: RecordStatus = RecordStatus.POSTED,
    currency: str = "USD",
    commission: str = "-1",
    fee_currency: str | None = None,
) -> TradeRecord:
    q, p = Decimal(quantity), Decimal(price)
    gross = -q * p
    net = gross + (Decimal(commission) if fee_currency in (None, currency) else 0)
    return TradeRecord(
        ACCOUNT,
        key,
        ACME,
        TradeKind.BUY if q > 0 else TradeKind.SELL,
        "BUY" if q > 0 else "SELL",
        day,
        q,
        p,
        gross,
        net,
        currency,
        commission=Decimal(commission),
        fee_currency=fee_currency,
        status=status,
    )


def _position(day: date, quantity: str, instrument: InstrumentRef = ACME) -> PositionRecord:
    return PositionRecord(
        ACCOUNT,
        instrument,
        day,
        datetime(day.year, day.month, day.day, 21, tzinfo=UTC),
        Decimal(quantity),
        instrument.currency,
    )


def _run(session: Session, account: BrokerAccount, batch: Batch) -> dict[str, object]:
    write_batch(session, batch, {ACCOUNT: account.id}, user_id=account.user_id)
    result = reconcile_account(session, account.id, ACCOUNT, batch, {ACCOUNT: account.id})
    session.commit()
    return result.as_dict()


def test_positions_over_the_whole_history_count_trades_transfers_and_actions(session, account) -> None:
    batch = _batch(date(2025, 1, 1), opened=date(2025, 1, 2))
    batch.trades = [
        _trade("t1", date(2025, 1, 5), "10"),
        _trade("t2", date(2025, 2, 5), "-3"),
        _trade("t3", date(2025, 2, 6), "100", status=RecordStatus.CANCELLED),
        _trade("t4", date(2025, 2, 7), "2", status=RecordStatus.REVERSED),
        _trade("t5", date(2025, 2, 8), "-2"),
    ]
    batch.transfers = [
        TransferRecord(
            ACCOUNT,
            "x1",
            TransferDirection.IN,
            FlowScope.EXTERNAL,
            date(2025, 1, 3),
            "USD",
            ACME,
            quantity=Decimal(5),
        )
    ]
    batch.corporate_actions = [
        CorporateActionRecord(
            ACCOUNT,
            "c1",
            CorporateActionKind.SPLIT,
            date(2025, 3, 1),
            ACME,
            ratio=Decimal(2),
            quantity=Decimal(12),
        )
    ]
    batch.positions = [_position(date(2025, 3, 31), "25"), _position(date(2025, 3, 31), "1000", EURUSD)]
    result = _run(session, account, batch)
    assert result["checked"] is True
    assert result["differences"] == [
        {"kind": "position", "subject": "STK:ACME:USD", "ledger": "24", "reported": "25", "difference": "-1"}
    ]


def test_positions_bridge_from_an_earlier_snapshot(session, account) -> None:
    first = _batch(date(2025, 1, 1))
    first.positions = [_position(date(2025, 1, 31), "40")]
    _run(session, account, first)
    second = _batch(date(2025, 2, 1))
    second.trades = [
        _trade("t9", date(2025, 1, 20), "7"),  # before the snapshot: already in it
        _trade("t10", date(2025, 2, 10), "5"),
    ]
    second.positions = [_position(date(2025, 2, 28), "45")]
    result = _run(session, account, second)
    assert (result["checked"], result["differences"]) == (True, [])
    assert "from the position snapshot of 2025-01-31" in " ".join(result["notes"])


def test_positions_are_not_compared_when_history_may_be_missing(session, account) -> None:
    batch = _batch(date(2025, 2, 1), opened=date(2020, 1, 1))
    batch.trades = [_trade("t1", date(2025, 2, 5), "10")]
    batch.positions = [_position(date(2025, 2, 28), "60")]
    result = _run(session, account, batch)
    assert (result["checked"], result["differences"]) == (False, [])
    assert "positions not compared" in result["notes"][0]
    assert "2020-01-01" in result["notes"][0]


def test_rows_of_another_source_are_not_counted(session, account) -> None:
    live = _batch(date(2025, 1, 1), source=SourceFormat.LIVE)
    live.trades = [_trade("live1", date(2025, 1, 6), "500")]
    _run(session, account, live)
    statement = _batch(date(2025, 1, 1), opened=date(2025, 1, 1))
    statement.trades = [_trade("t1", date(2025, 1, 5), "10")]
    statement.positions = [_position(date(2025, 1, 31), "10")]
    result = _run(session, account, statement)
    assert (result["checked"], result["differences"]) == (True, [])


def _balance(day: date, currency: str, cash: str, **components: str) -> BalanceRecord:
    return BalanceRecord(ACCOUNT, day, currency, cash=Decimal(cash), components=dict(components))


def test_cash_from_a_reported_starting_balance(session, account) -> None:
    batch = _batch(date(2025, 1, 1))
    batch.trades = [
        _trade("t1", date(2025, 1, 5), "10", "10"),  # -100 - 1
        _trade("t2", date(2025, 1, 6), "-1", "20", commission="-2", fee_currency="EUR"),
        _trade("t0", date(2024, 12, 20), "1", "999"),
    ]  # before the period: in the starting cash
    batch.cash = [
        CashRecord(ACCOUNT, "c1", CashKind.DEPOSIT, Decimal(50), "USD", date(2025, 1, 1)),
        CashRecord(ACCOUNT, "c2", CashKind.FEE, Decimal(-3), "EUR", date(2025, 1, 9)),
    ]
    batch.balances = [
        _balance(
            date(2025, 1, 31),
            "USD",
            "1000",
            starting_cash="1026",
            period_start="2025-01-01",
            unrecorded_flows="5",
        ),
        _balance(date(2025, 1, 31), "EUR", "7", starting_cash="10", period_start="2025-01-01"),
    ]
    result = _run(session, account, batch)
    assert result["checked"] is True
    # USD: 1026 + 50 - 101 + 20 + 5 = 1000 (ok); EUR: 10 - 3 - 2 = 5, reported 7.
    assert result["differences"] == [
        {"kind": "cash", "subject": "EUR", "ledger": "5", "reported": "7", "difference": "-2"}
    ]
    assert any("including 5" in note for note in result["notes"])


def test_cash_from_the_previous_balance_and_within_a_cent(session, account) -> None:
    first = _batch(date(2025, 1, 1))
    first.balances = [_balance(date(2025, 1, 31), "USD", "100")]
    _run(session, account, first)
    second = _batch(date(2025, 2, 1))
    second.cash = [CashRecord(ACCOUNT, "d1", CashKind.DIVIDEND, Decimal("10.004"), "USD", date(2025, 2, 3))]
    second.balances = [_balance(date(2025, 2, 28), "USD", "110")]
    result = _run(session, account, second)
    assert (result["checked"], result["differences"]) == (True, [])


def test_base_currency_total_is_compared_only_for_single_currency_ledgers(session, account) -> None:
    batch = _batch(date(2025, 1, 1))
    batch.accounts = [AccountInfo(ACCOUNT, "USD", details={"base_currency_source": "AccountInformation"})]
    batch.cash = [CashRecord(ACCOUNT, "d1", CashKind.DIVIDEND, Decimal(10), "USD", date(2025, 1, 3))]
    batch.balances = [
        _balance(date(2025, 1, 31), "BASE", "110", starting_cash="100", period_start="2025-01-01")
    ]
    assert _run(session, account, batch)["differences"] == []
    batch.cash.append(CashRecord(ACCOUNT, "d2", CashKind.DIVIDEND, Decimal(10), "CAD", date(2025, 1, 4)))
    result = _run(session, account, batch)
    assert result["checked"] is False
    assert "only a base-currency total" in " ".join(result["notes"])


def test_nothing_reported_means_nothing_checked(session, account) -> None:
    result = _run(session, account, _batch(date(2025, 1, 1)))
    assert result == {
        "checked": False,
        "ok": True,
        "differences": [],
        "notes": [
            "positions not compared: the source reported no positions",
            "cash not compared: the source reported no cash balance",
        ],
    }
