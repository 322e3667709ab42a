"""Overlay marks (live while fresh, statement otherwise) and the live-vs-statement reconciliation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from foliosync.brokers.ibkr.overlay import (
    DifferenceKind,
    Holding,
    latest_holdings,
    overlay_marks,
    overlay_view,
    reconcile,
)
from foliosync.db.session import session_factory
from foliosync.ledger.records import Batch, InstrumentRef, PositionRecord
from foliosync.ledger.taxonomy import AssetCategory, Broker, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, User

NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
STATEMENT_TIME = datetime(2025, 3, 3, 21, 0, tzinfo=UTC)
A, B = "U1111111", "U2222222"


def row(account: str, symbol: str, qty: str, price: str | None, as_of: datetime, source: str) -> Holding:
    value = None if price is None else Decimal(qty) * Decimal(price)
    return Holding(
        account=account,
        instrument_key=f"STK:{symbol}:USD",
        symbol=symbol,
        quantity=Decimal(qty),
        currency="USD",
        as_of=as_of,
        source=source,
        mark_price=None if price is None else Decimal(price),
        market_value=value,
    )


def live(account: str, symbol: str, qty: str, price: str | None, minutes_old: float) -> Holding:
    return row(account, symbol, qty, price, NOW - timedelta(minutes=minutes_old), "live")


def statement(account: str, symbol: str, qty: str, price: str) -> Holding:
    return row(account, symbol, qty, price, STATEMENT_TIME, "flex_xml")


def test_fresh_live_mark_wins_and_shows_its_age() -> None:
    [mark] = overlay_marks(
        [live(A, "AAPL", "100", "185.12", 2)], [statement(A, "AAPL", "100", "180")], now=NOW
    )
    assert (mark.mark_source, mark.mark_price, mark.market_value) == (
        "live",
        Decimal("185.12"),
        Decimal("18512"),
    )
    assert mark.mark_age == timedelta(minutes=2)
    assert mark.live_stale is False


def test_stale_live_mark_falls_back_to_the_statement() -> None:
    [mark] = overlay_marks(
        [live(A, "AAPL", "100", "185.12", 20)],
        [statement(A, "AAPL", "100", "180")],
        now=NOW,
        max_age=timedelta(minutes=15),
    )
    assert (mark.mark_source, mark.mark_price, mark.quantity) == ("flex_xml", Decimal("180"), Decimal("100"))
    assert mark.mark_age == NOW - STATEMENT_TIME
    assert (mark.live_stale, mark.live_age) == (True, timedelta(minutes=20))


def test_max_age_is_configurable() -> None:
    rows = [live(A, "AAPL", "100", "185.12", 20)], [statement(A, "AAPL", "100", "180")]
    [mark] = overlay_marks(*rows, now=NOW, max_age=timedelta(hours=1))
    assert mark.mark_source == "live"


def test_live_row_without_a_mark_uses_the_statement_mark() -> None:
    [mark] = overlay_marks([live(A, "AAPL", "100", None, 1)], [statement(A, "AAPL", "100", "180")], now=NOW)
    assert (mark.mark_source, mark.mark_price) == ("flex_xml", Decimal("180"))


def test_new_and_closed_positions_follow_the_fresh_live_snapshot() -> None:
    marks = overlay_marks(
        [live(A, "AAPL", "100", "185", 1), live(A, "NVDA", "10", "130", 1)],
        [
            statement(A, "AAPL", "100", "180"),
            statement(A, "TSLA", "5", "250"),
            statement(B, "SPY", "20", "590"),
        ],
        now=NOW,
    )
    # TSLA was sold since the statement (A's live snapshot is fresh); B has no live view at all.
    assert [(m.account, m.symbol, m.mark_source) for m in marks] == [
        (A, "AAPL", "live"),
        (A, "NVDA", "live"),
        (B, "SPY", "flex_xml"),
    ]


def test_only_a_stale_live_row_is_used_but_flagged() -> None:
    [mark] = overlay_marks([live(A, "NVDA", "10", "130", 60)], [], now=NOW)
    assert (mark.mark_source, mark.live_stale, mark.mark_age) == ("live", True, timedelta(hours=1))


def test_empty_fresh_live_snapshot_hides_statement_positions() -> None:
    marks = overlay_marks(
        [], [statement(A, "TSLA", "5", "250")], now=NOW, live_as_of={A: NOW - timedelta(minutes=1)}
    )
    assert marks == []


def test_reconcile_lists_only_differences() -> None:
    differences = reconcile(
        [live(A, "AAPL", "150", "185", 1), live(A, "NVDA", "10", "130", 1), live(A, "MSFT", "-10", "400", 1)],
        [
            statement(A, "AAPL", "100", "180"),
            statement(A, "TSLA", "5", "250"),
            statement(A, "MSFT", "-10", "395"),
            statement(B, "SPY", "20", "590"),
        ],
    )
    assert [(d.symbol, d.kind, d.live_quantity, d.statement_quantity, d.difference) for d in differences] == [
        ("AAPL", DifferenceKind.CHANGED, Decimal(150), Decimal(100), Decimal(50)),
        ("NVDA", DifferenceKind.OPENED, Decimal(10), Decimal(0), Decimal(10)),
        ("TSLA", DifferenceKind.CLOSED, Decimal(0), Decimal(5), Decimal(-5)),
    ]
    assert differences[0].statement_as_of == STATEMENT_TIME
    # B is not connected live: its statement positions are not reported as closed...
    assert all(d.account == A for d in differences)
    # ...unless the caller says B's live view is there (and empty).
    closed = reconcile([], [statement(B, "SPY", "20", "590")], accounts=[B])
    assert [(d.symbol, d.kind, d.difference) for d in closed] == [
        ("SPY", DifferenceKind.CLOSED, Decimal(-20))
    ]


def test_holding_from_position_record() -> None:
    record = PositionRecord(
        account=A,
        instrument=InstrumentRef(AssetCategory.STK, "AAPL"),
        as_of_date=date(2025, 3, 3),
        as_of=STATEMENT_TIME,
        quantity=Decimal(100),
        currency="USD",
        mark_price=Decimal("180"),
        market_value=Decimal("18000"),
    )
    holding = Holding.from_record(record, "flex_xml")
    assert (holding.key, holding.mark_price, holding.source) == (
        (A, "STK:AAPL:USD"),
        Decimal("180"),
        "flex_xml",
    )


def _snapshot(
    source: SourceFormat, day: date, as_of: datetime, positions: list[tuple[str, str, str]]
) -> Batch:
    batch = Batch(broker=Broker.IBKR, source=source)
    for symbol, qty, price in positions:
        batch.positions.append(
            PositionRecord(
                account=A,
                instrument=InstrumentRef(AssetCategory.STK, symbol),
                as_of_date=day,
                as_of=as_of,
                quantity=Decimal(qty),
                currency="USD",
                mark_price=Decimal(price),
                market_value=Decimal(qty) * Decimal(price),
            )
        )
    return batch


def test_overlay_from_stored_snapshots(engine: Engine) -> None:
    with session_factory(engine)() as session:
        user = User(email="overlay@example.com", password_hash="x")
        session.add(user)
        session.flush()
        account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=A, alias="main")
        session.add(account)
        session.flush()
        ids = {A: account.id}
        older = STATEMENT_TIME - timedelta(days=1)
        write_batch(
            session,
            _snapshot(SourceFormat.FLEX_XML, date(2025, 3, 2), older, [("AAPL", "50", "170")]),
            ids,
            user_id=user.id,
        )
        write_batch(
            session,
            _snapshot(
                SourceFormat.FLEX_XML,
                date(2025, 3, 3),
                STATEMENT_TIME,
                [("AAPL", "100", "180"), ("TSLA", "5", "250")],
            ),
            ids,
            user_id=user.id,
        )
        live_time = NOW - timedelta(minutes=3)
        write_batch(
            session,
            _snapshot(SourceFormat.LIVE, date(2025, 3, 4), live_time, [("AAPL", "120", "185.5")]),
            ids,
            user_id=user.id,
        )
        session.commit()

        statement_rows = latest_holdings(session, [account.id], "flex_xml")
        assert sorted((h.symbol, h.quantity, h.as_of) for h in statement_rows) == [
            ("AAPL", Decimal(100), STATEMENT_TIME),
            ("TSLA", Decimal(5), STATEMENT_TIME),
        ]
        assert latest_holdings(session, [], "flex_xml") == []

        view = overlay_view(session, [account.id], now=NOW)
        assert [(m.symbol, m.quantity, m.mark_price, m.mark_source, m.mark_age) for m in view.marks] == [
            ("AAPL", Decimal(120), Decimal("185.5"), "live", timedelta(minutes=3)),
        ]
        assert [(d.symbol, d.kind, d.difference) for d in view.differences] == [
            ("AAPL", DifferenceKind.CHANGED, Decimal(20)),
            ("TSLA", DifferenceKind.CLOSED, Decimal(-5)),
        ]
        stale = overlay_view(session, [account.id], now=NOW + timedelta(hours=1))
        assert [(m.symbol, m.mark_source, m.mark_price) for m in stale.marks] == [
            ("AAPL", "flex_xml", Decimal("180")),
            ("TSLA", "flex_xml", Decimal("250")),
        ]
