"""Fidelity exports through foliosync.sync.importing.import_files, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from foliosync.importers import get_format
from foliosync.models import Balance, BrokerAccount, CashTransaction, Instrument, Position, Trade
from tests.brokers.file_import_support import (
    BINARY,
    assert_refused,
    csv_dicts,
    ledger_cash_total,
    make_account,
    make_user,
    money,
    run_import,
    table_counts,
    truncate_inside_line,
    written,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "fidelity"
HISTORY = "History_for_Account_X8YYYYYYY.csv"
SYNTHETIC = "fidelity-brokerage-synthetic.csv"
POSITIONS = "FINporterFido_positions_test_snippet.csv"


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_format_is_registered_for_import() -> None:
    fmt = get_format("fidelity")
    assert fmt.broker.value == "fidelity"
    assert fmt.names_accounts is True


def test_history_imports_with_counts_and_sums(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    content = _bytes(HISTORY)
    rows = csv_dicts(content, "Run Date")
    expected_total = sum((money(r["Amount ($)"]) or Decimal(0) for r in rows), Decimal(0))

    summary = run_import(session, "fidelity", [(HISTORY, content)], target)

    assert len(rows) == 11
    assert table_counts(session)["cash_transactions"] == 11
    assert table_counts(session)["trades"] == 0
    assert ledger_cash_total(session) == expected_total == Decimal("-7671.75")
    kinds = {r.kind for r in session.scalars(select(CashTransaction))}
    assert kinds == {"DEPOSIT", "WITHDRAWAL", "INTERNAL_TRANSFER"}
    deposits = sum(
        (r.amount for r in session.scalars(select(CashTransaction).where(CashTransaction.kind == "DEPOSIT"))),
        Decimal(0),
    )
    assert deposits == Decimal("200.99") + Decimal("1001.1") + Decimal("2042.12")
    assert all(r.account_id == target.id for r in session.scalars(select(CashTransaction)))
    assert summary.accounts[0].unknown_types == {}


def test_synthetic_brokerage_trades_and_cash(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    content = _bytes(SYNTHETIC)
    rows = csv_dicts(content, "Run Date")
    expected_total = sum((money(r["Amount ($)"]) or Decimal(0) for r in rows), Decimal(0))

    run_import(session, "fidelity", [(SYNTHETIC, content)], target)

    trades = session.scalars(select(Trade).order_by(Trade.trade_date)).all()
    assert [(t.kind, t.quantity, t.price, t.commission, t.net_amount) for t in trades] == [
        ("BUY", Decimal(10), Decimal(50), Decimal("-0.65"), Decimal(-500)),
        ("SELL", Decimal(-10), Decimal(55), Decimal("-0.65"), Decimal("549.35")),
    ]
    # The buy's amount disagrees with 10 x 50 + 0.65: kept as the broker wrote it, flagged.
    assert [t.needs_review for t in trades] == [True, False]
    assert trades[1].gross_amount == Decimal(550)
    assert ledger_cash_total(session) == expected_total == Decimal("2361.85")
    fct = session.scalars(select(Instrument).where(Instrument.key == "STK:FCT:USD")).one()
    assert trades[0].instrument_id == fct.id
    # The running "Cash Balance ($)" column is ignored: 5 rows, 5 records, nothing else.
    assert table_counts(session)["cash_transactions"] == 3


def test_reimport_writes_nothing(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    files = [(HISTORY, _bytes(HISTORY)), (SYNTHETIC, _bytes(SYNTHETIC))]
    first = run_import(session, "fidelity", files, target)
    before = table_counts(session)
    again = run_import(session, "fidelity", files, target)
    after = table_counts(session)

    assert written(first) == 16 + 1  # 16 records + the FCT instrument
    assert written(again) == 0
    assert {k: v for k, v in after.items() if k != "account_syncs"} == {
        k: v for k, v in before.items() if k != "account_syncs"
    }


def _slice_history(content: bytes, first: int, last: int) -> bytes:
    """The export with only data rows [first, last) kept: lead rows, header and footer stay."""
    lines = content.decode("utf-8").split("\n")
    header_at = next(i for i, line in enumerate(lines) if line.startswith("Run Date"))
    data = [i for i, line in enumerate(lines) if line[:2].isdigit()]
    kept = set(data[first:last])
    out = [line for i, line in enumerate(lines) if i <= header_at or i in kept or i > data[-1]]
    return "\n".join(out).encode("utf-8")


def test_overlapping_exports_never_duplicate(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    content = _bytes(HISTORY)
    older, newer = _slice_history(content, 4, 11), _slice_history(content, 0, 8)

    run_import(session, "fidelity", [("older.csv", older)], target)
    assert table_counts(session)["cash_transactions"] == 7
    summary = run_import(session, "fidelity", [("newer.csv", newer)], target)

    assert table_counts(session)["cash_transactions"] == 11
    assert summary.accounts[0].counts["cash_transactions"] == {"inserted": 4, "updated": 0, "unchanged": 4}
    rows = csv_dicts(content, "Run Date")
    assert ledger_cash_total(session) == sum((money(r["Amount ($)"]) or Decimal(0) for r in rows), Decimal(0))


def test_identical_same_day_rows_stay_two(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    header = "Run Date,Action,Symbol,Description,Type,Price ($),Quantity,Commission ($),Fees ($),Accrued Interest ($),Amount ($),Cash Balance ($),Settlement Date"
    fee = "05/02/2025,FEE CHARGED WIRE FEE (Cash),,No Description,Cash,,,,,,-25.00,{balance},"
    content = "\n".join(["", header, fee.format(balance="975.00"), fee.format(balance="950.00"), ""]).encode()

    run_import(session, "fidelity", [("fees.csv", content)], target)
    again = run_import(session, "fidelity", [("fees.csv", content)], target)

    fees = session.scalars(select(CashTransaction)).all()
    assert [(f.kind, f.amount, f.posted_date) for f in fees] == [("FEE", Decimal(-25), date(2025, 5, 2))] * 2
    assert len({f.natural_key for f in fees}) == 2
    assert written(again) == 0


def test_positions_snapshot_names_its_accounts(session) -> None:
    make_user(session)
    content = _bytes(POSITIONS)
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    data = [r for r in table if r["Symbol"]]
    expected_basis = sum((money(r["Cost Basis Total"]) for r in data), Decimal(0))

    summary = run_import(session, "fidelity", [("Portfolio_Positions_Jan-05-2024.csv", content)], None)

    accounts = session.scalars(select(BrokerAccount).order_by(BrokerAccount.external_account_id)).all()
    assert [(a.external_account_id, a.alias) for a in accounts] == [
        ("Z00000000", "AAAA"),
        ("Z00000001", "BBBB"),
    ]
    positions = session.scalars(select(Position).order_by(Position.quantity)).all()
    assert [(p.quantity, p.as_of_date) for p in positions] == [
        (Decimal(800), date(2024, 1, 5)),
        (Decimal(900), date(2024, 1, 5)),
    ]
    assert sum((p.cost_basis for p in positions), Decimal(0)) == expected_basis == Decimal("76724.10")
    assert positions[1].market_value == Decimal("45900.35")
    assert session.scalars(select(Balance)).all() == []
    assert len(summary.accounts) == 2

    again = run_import(session, "fidelity", [("Portfolio_Positions_Jan-05-2024.csv", content)], None)
    assert written(again) == 0


def test_positions_core_fund_and_download_date(session) -> None:
    user = make_user(session)
    make_account(session, user, "fidelity")
    content = (
        "\ufeffAccount Number,Account Name,Symbol,Description,Quantity,Last Price,Current Value,Cost Basis Total,Type\r\n"
        'X1,Joint,SPAXX**,HELD IN MONEY MARKET,,,"$1,234.56",,Cash,\r\n'
        "X1,Joint,Pending Activity,,,,-$34.56,,,\r\n"
        "X1,Joint, -AAPL250117C150,AAPL JAN 17 2025 $150 CALL,-2,$3.10,-$620.00,-$800.00,Margin,\r\n"
        'X1,Joint,AAPL,APPLE INC,50,$190.00,"$9,500.00","$6,000.00",Cash,\r\n'
        'X1,Joint,AAPL,APPLE INC,10,$190.00,"$1,900.00","$1,500.00",Margin,\r\n'
        "\r\n"
        '"Date downloaded 01/24/2025 10:28 pm"\r\n'
    ).encode()

    run_import(session, "fidelity", [("positions.csv", content)], None)

    positions = {p.instrument_id: p for p in session.scalars(select(Position))}
    keys = {i.id: i.key for i in session.scalars(select(Instrument))}
    by_key = {keys[i]: p for i, p in positions.items()}
    assert set(by_key) == {"STK:AAPL:USD", "OPT:AAPL  250117C00150000"}
    assert by_key["STK:AAPL:USD"].quantity == Decimal(60)  # Cash and Margin rows added up
    assert by_key["STK:AAPL:USD"].cost_basis == Decimal(7500)
    assert by_key["OPT:AAPL  250117C00150000"].quantity == Decimal(-2)
    # 10:28 pm Eastern on Jan 24 is 03:28 UTC on Jan 25; the snapshot day is the Eastern day.
    assert by_key["STK:AAPL:USD"].as_of_date == date(2025, 1, 24)
    assert by_key["STK:AAPL:USD"].as_of.isoformat() == "2025-01-25T03:28:00+00:00"
    balance = session.scalars(select(Balance)).one()
    assert balance.cash == Decimal("1234.56")
    assert balance.components == {"core": "1234.56", "pending_activity": "-34.56"}
    option = session.scalars(select(Instrument).where(Instrument.key == "OPT:AAPL  250117C00150000")).one()
    assert (option.underlying_symbol, option.strike, option.put_call, option.multiplier) == (
        "AAPL",
        Decimal(150),
        "C",
        Decimal(100),
    )


def test_positions_without_a_date_are_refused(session) -> None:
    user = make_user(session)
    make_account(session, user, "fidelity")
    line = assert_refused(session, "fidelity", "positions.csv", _bytes(POSITIONS), None)
    assert line == 6  # the last line, where the footer would say "Date downloaded"


def test_wrong_broker_file_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    schwab = (DATA.parent / "schwab" / "schwab-export.csv").read_bytes()
    assert assert_refused(session, "fidelity", "schwab-export.csv", schwab, target) == 1


def test_truncated_file_is_refused_at_its_line(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    cut = truncate_inside_line(_bytes(HISTORY), 10, 30)  # "01/23/2023,TRANSFERRED FROM V"
    assert assert_refused(session, "fidelity", HISTORY, cut, target) == 10


def test_binary_file_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    assert assert_refused(session, "fidelity", "History.xlsx", BINARY, target) == 1


def test_empty_file_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "fidelity")
    assert assert_refused(session, "fidelity", "empty.csv", b"", target) == 1
