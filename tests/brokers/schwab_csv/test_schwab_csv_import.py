"""Schwab Transactions CSV through foliosync.sync.importing.import_files, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from foliosync.importers import get_format
from foliosync.models import Balance, CashTransaction, CorporateAction, Instrument, Position, Trade, Transfer
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

DATA = Path(__file__).resolve().parents[2] / "data" / "schwab"
SAMPLE = "schwab-export.csv"
HEADER = "Date,Action,Symbol,Description,Quantity,Price,Fees & Comm,Amount"
TRADE_ACTIONS = {"Buy", "Sell", "Reinvest Shares"}
CORPORATE_ACTIONS = {
    "Stock Split",
    "Reverse Split",
    "Stock Div Dist",
    "Spin-off",
    "Stock Merger",
    "Name Change",
    "Conversion",
}


def _bytes() -> bytes:
    return (DATA / SAMPLE).read_bytes()


def test_format_is_registered_for_import() -> None:
    fmt = get_format("schwab-csv")
    assert fmt.broker.value == "schwab"
    assert fmt.names_accounts is False


def test_sample_imports_with_counts_and_sums(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    content = _bytes()
    rows = csv_dicts(content, "Date")
    actions = [r["Action"] for r in rows]
    expected_total = sum((money(r["Amount"]) or Decimal(0) for r in rows), Decimal(0))

    summary = run_import(session, "schwab-csv", [(SAMPLE, content)], target)

    counts = table_counts(session)
    assert counts["trades"] == sum(a in TRADE_ACTIONS for a in actions) == 43
    assert counts["corporate_actions"] == sum(a in CORPORATE_ACTIONS for a in actions) == 11
    assert counts["transfers"] == actions.count("Journaled Shares") == 1
    assert counts["cash_transactions"] == len(rows) - 43 - 11 - 1 == 64
    assert ledger_cash_total(session) == expected_total == Decimal("400074.19")
    fees = sum(
        (money(r["Amount"]) for r in rows if r["Action"] == "Advisor Fee"),
        Decimal(0),
    )
    assert summary.accounts[0].cash_totals["FEE"]["USD"] == str(fees + Decimal("-0.50"))  # + the ADR fee
    assert summary.accounts[0].unknown_types == {}
    # Schwab's own total disagrees (the sample concatenates several downloads): a warning only.
    assert any("Transactions Total" in w for w in summary.warnings)


def test_actions_dates_and_signs(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    run_import(session, "schwab-csv", [(SAMPLE, _bytes())], target)
    instruments = {i.id: i.key for i in session.scalars(select(Instrument))}

    sell = session.scalars(
        select(Trade).where(Trade.kind == "SELL", Trade.quantity == Decimal("-592.199"))
    ).one()
    assert (sell.price, sell.commission, sell.net_amount, sell.gross_amount) == (
        Decimal("8.46"),
        Decimal(-10),
        Decimal(5000),
        Decimal(5010),
    )
    assert instruments[sell.instrument_id] == "FUND:FIHBX:USD"
    split = session.scalars(select(CorporateAction).where(CorporateAction.kind == "SPLIT")).one()
    assert (instruments[split.instrument_id], split.quantity, split.effective_date) == (
        "STK:AVGO:USD",
        Decimal(9),
        date(2024, 7, 12),  # the "as of" date; the posting date 07/15 is in the key
    )
    merger = session.scalars(select(CorporateAction).where(CorporateAction.kind == "MERGER_STOCK")).all()
    assert len(merger) == 4 and len({m.action_id for m in merger}) == 2
    journal = session.scalars(select(Transfer)).one()
    assert (journal.direction, journal.flow_scope, journal.quantity) == ("OUT", "INTERNAL", Decimal(-877))
    lieu = session.scalars(select(CashTransaction).where(CashTransaction.kind == "CASH_IN_LIEU")).one()
    assert (lieu.posted_date, lieu.ex_date, lieu.amount) == (
        date(2024, 10, 14),
        date(2024, 10, 10),
        Decimal("5.49"),
    )
    tax = session.scalars(select(CashTransaction).where(CashTransaction.kind == "WITHHOLDING_TAX")).one()
    assert (tax.subkind, tax.amount) == ("DIVIDEND", Decimal("-1.30"))
    wire = session.scalars(select(CashTransaction).where(CashTransaction.subkind == "WIRE")).one()
    assert (wire.kind, wire.flow_scope, wire.amount) == ("WITHDRAWAL", "EXTERNAL", Decimal(-100000))
    # Reinvested dividend <-> its Reinvest Shares buy (taxonomy §4.5), e.g. SPY 10/31 -> 11/01.
    spy_div = session.scalars(
        select(CashTransaction).where(
            CashTransaction.posted_date == date(2023, 10, 31), CashTransaction.amount == Decimal("694.48")
        )
    ).one()
    spy_buy = session.scalars(select(Trade).where(Trade.trade_date == date(2023, 11, 1))).one()
    assert spy_div.related_key == spy_buy.natural_key
    assert spy_buy.dividend_reinvestment is True


def test_reimport_writes_nothing(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    run_import(session, "schwab-csv", [(SAMPLE, _bytes())], target)
    again = run_import(session, "schwab-csv", [(SAMPLE, _bytes())], target)
    assert written(again) == 0
    assert table_counts(session)["cash_transactions"] == 64


def test_overlapping_exports_never_duplicate(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    lines = _bytes().decode().split("\n")
    data = lines[1:-1]  # header and the Transactions Total row apart
    # An export covers whole days (a date range), so both slices cut between days. Their overlap
    # holds 04/21/2023 entirely: the day with two identical $26.58 advisor fees.
    day_start = next(i for i, line in enumerate(data) if line.startswith("04/21/2023"))
    after = next(i for i, line in enumerate(data) if line.startswith("04/03/2023"))
    end = next(i for i in range(after, len(data)) if not data[i].startswith("04/03/2023"))
    older = "\n".join([HEADER, *data[day_start:]]).encode()
    newer = "\n".join([HEADER, *data[:end]]).encode()

    run_import(session, "schwab-csv", [("older.csv", older)], target)
    run_import(session, "schwab-csv", [("newer.csv", newer)], target)

    counts = table_counts(session)
    assert (counts["trades"], counts["cash_transactions"], counts["corporate_actions"]) == (43, 64, 11)
    assert ledger_cash_total(session) == Decimal("400074.19")


def test_identical_same_day_rows_stay_two(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    run_import(session, "schwab-csv", [(SAMPLE, _bytes())], target)
    run_import(session, "schwab-csv", [(SAMPLE, _bytes())], target)
    twins = session.scalars(
        select(CashTransaction).where(
            CashTransaction.posted_date == date(2023, 4, 21), CashTransaction.amount == Decimal("-26.58")
        )
    ).all()
    assert len(twins) == 2
    assert {t.natural_key[-2:] for t in twins} == {"#0", "#1"}


def test_option_rows(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    content = "\n".join(
        [
            HEADER,
            "01/17/2025,Expired,SPY 01/17/2025 650.00 C,CALL SPDR S&P500 ETF $650 EXP 01/17/25,1,,,",
            "01/02/2025,Sell to Open,SPY 01/17/2025 650.00 C,CALL SPDR S&P500 ETF $650 EXP 01/17/25,1,$2.50,$0.66,$249.34",
            'Transactions Total,,,,,,,"$249.34"',
        ]
    ).encode()
    summary = run_import(session, "schwab-csv", [("options.csv", content)], target)
    assert summary.warnings == []
    trades = session.scalars(select(Trade).order_by(Trade.trade_date)).all()
    assert [(t.kind, t.quantity, t.net_amount, t.commission) for t in trades] == [
        ("SELL_TO_OPEN", Decimal(-1), Decimal("249.34"), Decimal("-0.66")),
        ("OPTION_EXPIRATION", Decimal(1), Decimal(0), Decimal(0)),
    ]
    option = session.get(Instrument, trades[0].instrument_id)
    assert (option.key, option.multiplier, option.underlying_symbol) == (
        "OPT:SPY   250117C00650000",
        Decimal(100),
        "SPY",
    )


def test_wrong_broker_file_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    robinhood = (DATA.parent / "robinhood" / "robinhood-activity-synthetic.csv").read_bytes()
    assert assert_refused(session, "schwab-csv", "robinhood.csv", robinhood, target) == 1


def test_truncated_file_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    cut = truncate_inside_line(_bytes(), 40, 25)
    assert assert_refused(session, "schwab-csv", SAMPLE, cut, target) == 40


def test_binary_and_empty_files_are_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    assert assert_refused(session, "schwab-csv", "export.zip", BINARY, target) == 1
    assert assert_refused(session, "schwab-csv", "empty.csv", b"", target) == 1


POSITIONS = "\n".join(
    [
        '"Positions for account Individual ...123 as of 12:33 PM ET, 2025/05/04"',
        "",
        '"Symbol","Description","Qty (Quantity)","Price","Price Chng $ (Price Change $)","Price Chng % (Price Change %)",'
        '"Mkt Val (Market Value)","Day Chng $ (Day Change $)","Day Chng % (Day Change %)","Cost Basis",'
        '"Gain $ (Gain/Loss $)","Gain % (Gain/Loss %)","Ratings","Reinvest?","Reinvest Capital Gains?",'
        '"% of Acct (% of Account)","Security Type",',
        '"AVGO","BROADCOM INC","10","$170.00","+$1.00","+0.59%","$1,700.00","+$10.00","+0.59%","$1,680.00",'
        '"+$20.00","+1.19%","B","No","N/A","62.96%","Equity",',
        '"SPY 01/17/2026 450.00 P","PUT SPDR S&P500 ETF $450 EXP 01/17/26","-1","$2.00","--","--","-$200.00",'
        '"--","--","-$250.00","+$50.00","+20%","--","N/A","N/A","-7.41%","Option",',
        '"Cash & Cash Investments","--","--","--","--","--","$1,200.00","$0.00","0%","--","--","--","--","--",'
        '"--","44.44%","Cash and Money Market",',
        '"Account Total","--","--","--","--","--","$2,700.00","+$10.00","+0.37%","$1,430.00","+$70.00",'
        '"+4.9%","--","--","--","--","--",',
    ]
).encode()


def test_positions_export(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "schwab")
    run_import(session, "schwab-csv", [("Individual-Positions-2025-05-04.csv", POSITIONS)], target)

    instruments = {i.id: i.key for i in session.scalars(select(Instrument))}
    positions = {instruments[p.instrument_id]: p for p in session.scalars(select(Position))}
    assert {k: (p.quantity, p.cost_basis, p.market_value) for k, p in positions.items()} == {
        "STK:AVGO:USD": (Decimal(10), Decimal(1680), Decimal(1700)),
        "OPT:SPY   260117P00450000": (Decimal(-1), Decimal(-250), Decimal(-200)),
    }
    avgo = positions["STK:AVGO:USD"]
    assert avgo.as_of_date == date(2025, 5, 4)
    assert avgo.as_of.isoformat() == "2025-05-04T16:33:00+00:00"  # 12:33 PM EDT
    balance = session.scalars(select(Balance)).one()
    assert (balance.cash, balance.net_liquidation) == (Decimal(1200), Decimal(2700))
    again = run_import(session, "schwab-csv", [("Individual-Positions-2025-05-04.csv", POSITIONS)], target)
    assert written(again) == 0
