"""Helpers shared by the file-import tests (Fidelity, Robinhood, Schwab CSV).

Sums the tests compare against are computed here from the CSV text with the csv module, never
through the importers' own parsing helpers.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.brokers.fidelity.csv_format import FORMAT as FIDELITY
from foliosync.brokers.robinhood.csv_format import FORMAT as ROBINHOOD
from foliosync.brokers.schwab.csv_format import FORMAT as SCHWAB_CSV
from foliosync.errors import ImportFileError
from foliosync.importers import FileFormat
from foliosync.models import (
    AccountSync,
    BrokerAccount,
    CashTransaction,
    CorporateAction,
    Instrument,
    OptionEvent,
    Position,
    RawPayload,
    TaxLot,
    Trade,
    Transfer,
    User,
)
from foliosync.sync.importing import ImportSummary, import_files

# Used directly, so these tests do not depend on other brokers' format modules importing cleanly.
FORMATS = {f.name: f for f in (FIDELITY, ROBINHOOD, SCHWAB_CSV)}

LEDGER_TABLES = {
    "trades": Trade,
    "cash_transactions": CashTransaction,
    "transfers": Transfer,
    "option_events": OptionEvent,
    "corporate_actions": CorporateAction,
    "positions": Position,
    "tax_lots": TaxLot,
    "instruments": Instrument,
    "raw_payloads": RawPayload,
    "account_syncs": AccountSync,
}


def make_user(session: Session) -> User:
    user = User(email="investor@example.com", password_hash="x")
    session.add(user)
    session.commit()
    return user


def make_account(session: Session, user: User, broker: str) -> BrokerAccount:
    account = BrokerAccount(user_id=user.id, broker=broker, alias=f"My {broker}")
    session.add(account)
    session.commit()
    return account


def table_counts(session: Session) -> dict[str, int]:
    return {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in LEDGER_TABLES.items()
    }


def run_import(
    session: Session, fmt_name: str, files: list[tuple[str, bytes]], target: BrokerAccount | None
) -> ImportSummary:
    fmt: FileFormat = FORMATS[fmt_name]
    user = session.scalars(select(User)).one()
    # reparse: a repeated import in these tests is meant to go through parsing and the upsert again
    # (tests/sync/test_import_replay.py covers answering it without parsing).
    summary = import_files(session, user, fmt, files, target, reparse=True)
    session.commit()
    return summary


def written(summary: ImportSummary, *, include_lots: bool = False) -> int:
    """Rows the import wrote; FIFO lots recomputed after the import are left out unless asked for."""
    return sum(
        c["inserted"] + c["updated"]
        for a in summary.accounts
        for name, c in a.counts.items()
        if include_lots or name != "computed_lots"
    )


def money(text: str) -> Decimal | None:
    """Independent reading of a broker money cell: $, commas, +, (negative)."""
    text = text.strip()
    if text in ("", "--", "-", "N/A", "n/a"):
        return None
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()").replace("$", "").replace(",", "").replace("+", "")
    value = Decimal(text)
    return -value if negative else value


def csv_dicts(content: bytes, header_first_cell: str) -> list[dict[str, str]]:
    """Rows after the header whose first cell looks like a date (M/D/YYYY...)."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    start = next(i for i, r in enumerate(rows) if r and r[0].strip() == header_first_cell)
    header = [h.strip() for h in rows[start]]
    out = []
    for row in rows[start + 1 :]:
        first = row[0].strip() if row else ""
        if len(first) >= 8 and first[0].isdigit() and "/" in first[:5]:
            out.append(dict(zip(header, row, strict=False)))
    return out


def ledger_cash_total(session: Session) -> Decimal:
    cash = sum((r.amount for r in session.scalars(select(CashTransaction))), Decimal(0))
    trades = sum((r.net_amount for r in session.scalars(select(Trade))), Decimal(0))
    return cash + trades


def assert_refused(
    session: Session, fmt_name: str, name: str, content: bytes, target: BrokerAccount | None
) -> int:
    """The import fails with an ImportFileError naming the file and a line, and writes nothing."""
    with pytest.raises(ImportFileError) as caught:
        run_import(session, fmt_name, [(name, content)], target)
    session.rollback()
    error = caught.value
    assert error.filename == name
    assert isinstance(error.line, int) and error.line >= 1
    assert f"{name}, line {error.line}" in str(error)
    counts = table_counts(session)
    assert all(v == 0 for v in counts.values()), counts
    return error.line


def truncate_inside_line(content: bytes, line_number: int, keep: int) -> bytes:
    """The file cut `keep` characters into its 1-based physical line `line_number`."""
    lines = content.split(b"\n")
    head = b"\n".join(lines[: line_number - 1])
    return head + b"\n" + lines[line_number - 1][:keep]


BINARY = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4\x00\x00\x00L\x02\x00\x00"
