"""Robinhood activity CSV through foliosync.sync.importing.import_files, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from foliosync.importers import get_format
from foliosync.models import CashTransaction, CorporateAction, Instrument, OptionEvent, Trade
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

DATA = Path(__file__).resolve().parents[2] / "data" / "robinhood"
SAMPLE = "robinhood-activity-synthetic.csv"
HEADER = '"Activity Date","Process Date","Settle Date","Instrument","Description","Trans Code","Quantity","Price","Amount"'


def _bytes() -> bytes:
    return (DATA / SAMPLE).read_bytes()


def test_format_is_registered_for_import() -> None:
    fmt = get_format("robinhood")
    assert fmt.broker.value == "robinhood"
    assert fmt.names_accounts is False


def test_sample_imports_with_counts_and_sums(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    content = _bytes()
    rows = csv_dicts(content, "Activity Date")
    expected_total = sum((money(r["Amount"]) or Decimal(0) for r in rows), Decimal(0))
    codes = [r["Trans Code"] for r in rows]

    summary = run_import(session, "robinhood", [(SAMPLE, content)], target)

    counts = table_counts(session)
    trade_codes = {"Buy", "Sell", "BTO", "STO", "BTC", "STC", "OEXP", "OASGN", "OEXCS"}
    assert counts["trades"] == sum(c in trade_codes for c in codes) == 4
    assert counts["cash_transactions"] == sum(c in {"CDIV", "INT", "ACH"} for c in codes) == 3
    assert counts["option_events"] == sum(c in {"OEXP", "OASGN"} for c in codes) == 2
    assert counts["corporate_actions"] == codes.count("SPL") == 1
    assert ledger_cash_total(session) == expected_total == Decimal("-39573.63")
    assert summary.accounts[0].cash_totals == {
        "DEPOSIT": {"USD": "5000"},
        "DIVIDEND": {"USD": "176"},
        "INTEREST_RECEIVED": {"USD": "0.42"},
    }


def test_options_assignment_and_multiline_descriptions(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    run_import(session, "robinhood", [(SAMPLE, _bytes())], target)

    instruments = {i.id: i for i in session.scalars(select(Instrument))}
    trades = {(t.kind, instruments[t.instrument_id].key): t for t in session.scalars(select(Trade))}
    put = "OPT:SPY   250117P00450000"
    sto = trades[("SELL_TO_OPEN", put)]
    assert (sto.quantity, sto.price, sto.net_amount) == (Decimal(-1), Decimal("2.5"), Decimal("249.95"))
    assignment = trades[("OPTION_ASSIGNMENT", put)]
    assert (assignment.quantity, assignment.price, assignment.net_amount) == (
        Decimal(1),
        Decimal(0),
        Decimal(0),
    )
    stock = trades[("BUY", "STK:SPY:USD")]
    assert (stock.quantity, stock.price, stock.net_amount) == (Decimal(100), Decimal(450), Decimal(-45000))
    assert stock.description == "SPDR S&P 500 ETF CUSIP: 78462F103 1 SPY Option Assigned"
    assert instruments[stock.instrument_id].cusip == "78462F103"
    event = session.scalars(select(OptionEvent).where(OptionEvent.kind == "ASSIGNMENT")).one()
    assert event.option_trade_key == assignment.natural_key
    assert event.underlying_trade_key == stock.natural_key
    # The expiring call was not opened in this file: long is assumed and the row flagged.
    expiry = trades[("OPTION_EXPIRATION", "OPT:SPY   250117C00650000")]
    assert (expiry.quantity, expiry.needs_review) == (Decimal(-1), True)
    split = session.scalars(select(CorporateAction)).one()
    assert (split.kind, split.quantity, split.ratio, split.effective_date) == (
        "SPLIT",
        Decimal(90),
        None,
        date(2024, 6, 10),
    )
    dividend = session.scalars(select(CashTransaction).where(CashTransaction.kind == "DIVIDEND")).one()
    assert dividend.pay_date == date(2025, 1, 31)


def test_reimport_writes_nothing(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    run_import(session, "robinhood", [(SAMPLE, _bytes())], target)
    before = table_counts(session)
    again = run_import(session, "robinhood", [(SAMPLE, _bytes())], target)
    assert written(again) == 0
    assert table_counts(session)["trades"] == before["trades"]


def _rows_text() -> list[str]:
    """The sample's records as text blocks (descriptions span lines), header and footer apart."""
    text = _bytes().decode()
    body = text.split("\n", 1)[1]
    blocks, current = [], ""
    for line in body.split("\n"):
        current = f"{current}\n{line}" if current else line
        if current.count('"') % 2 == 0:
            blocks.append(current)
            current = ""
    return [b for b in blocks if b and not b.startswith('"",') and not b.startswith('"The data')]


def test_overlapping_exports_never_duplicate(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    rows = _rows_text()
    assert len(rows) == 8
    first = "\n".join([HEADER, *rows[:6]]).encode()
    second = "\n".join([HEADER, *rows[3:]]).encode()

    run_import(session, "robinhood", [("first.csv", first)], target)
    run_import(session, "robinhood", [("second.csv", second)], target)

    fresh = table_counts(session)
    assert fresh["trades"] == 4 and fresh["cash_transactions"] == 3 and fresh["corporate_actions"] == 1
    assert ledger_cash_total(session) == Decimal("-39573.63")


def test_identical_same_day_rows_stay_two(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    gold = '"3/3/2025","3/3/2025","3/3/2025","","Gold Subscription Fee","GOLD","","","($5.00)"'
    content = "\n".join([HEADER, gold, gold]).encode()
    run_import(session, "robinhood", [("gold.csv", content)], target)
    again = run_import(session, "robinhood", [("gold.csv", content)], target)
    fees = session.scalars(select(CashTransaction)).all()
    assert [(f.kind, f.amount) for f in fees] == [("FEE", Decimal(-5))] * 2
    assert written(again) == 0


def test_unknown_code_is_kept_for_review(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    row = '"3/3/2025","3/3/2025","3/3/2025","","Mystery adjustment","ZZZ","","","$1.25"'
    summary = run_import(session, "robinhood", [("odd.csv", "\n".join([HEADER, row]).encode())], target)
    record = session.scalars(select(CashTransaction)).one()
    assert (record.kind, record.subkind, record.amount, record.needs_review) == (
        "OTHER",
        "UNKNOWN",
        Decimal("1.25"),
        True,
    )
    assert summary.accounts[0].unknown_types == {"ZZZ": 1}


def test_wrong_broker_file_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    fidelity = (DATA.parent / "fidelity" / "fidelity-brokerage-synthetic.csv").read_bytes()
    assert assert_refused(session, "robinhood", "fidelity.csv", fidelity, target) == 1


def test_truncated_inside_a_multiline_description_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    cut = truncate_inside_line(_bytes(), 5, 10)  # inside the quoted "SPDR S&P 500 ETF\nCUSIP..." field
    assert assert_refused(session, "robinhood", SAMPLE, cut, target) == 4


def test_truncated_row_is_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    cut = truncate_inside_line(_bytes(), 7, 40)  # the STO row, cut inside its Description
    assert assert_refused(session, "robinhood", SAMPLE, cut, target) == 7


def test_binary_and_empty_files_are_refused(session) -> None:
    user = make_user(session)
    target = make_account(session, user, "robinhood")
    assert assert_refused(session, "robinhood", "report.pdf", b"%PDF-1.7\n\x00\x01\x02binary", target) == 2
    assert assert_refused(session, "robinhood", "report.zip", BINARY, target) == 1
    assert assert_refused(session, "robinhood", "empty.csv", b"  \n", target) == 1
