"""Statements whose periods overlap, several accounts per response, and generated statements."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.models import BrokerAccount, CashTransaction, Position, Trade, User
from tests.brokers.ibkr.conftest import import_flex, written
from tests.brokers.ibkr.flexdoc import STOCK, cash, flex, section, statement, trade

ROOT = Path(__file__).resolve().parents[3]
FEE = cash(None, "Other Fees", "-1.34", dateTime="20250120;100000", reportDate="20250120")


def _january() -> bytes:
    return flex(
        statement(
            "U1",
            section(
                "Trades",
                trade("1", "10", "150", tradeDate="20250110"),
                trade("2", "5", "151", tradeDate="20250120"),
            ),
            section("CashTransactions", cash("100", "Dividends", "12", **STOCK), FEE, FEE),
            from_date="20250101",
            to_date="20250131",
        )
    )


def _mid_january_to_february() -> bytes:
    return flex(
        statement(
            "U1",
            section(
                "Trades",
                trade("2", "5", "151", tradeDate="20250120"),
                trade("3", "-3", "160", tradeDate="20250205"),
            ),
            section(
                "CashTransactions",
                FEE,
                FEE,
                cash("100", "Dividends", "12", **STOCK),
                cash("101", "Broker Interest Received", "0.5", reportDate="20250203"),
            ),
            from_date="20250115",
            to_date="20250215",
        )
    )


def test_overlapping_statements_add_only_what_is_new(session: Session, user: User) -> None:
    import_flex(session, user, ("jan.xml", _january()))
    second = import_flex(session, user, ("late-jan-feb.xml", _mid_january_to_february()))

    assert sorted(session.scalars(select(Trade.natural_key))) == ["1", "2", "3"]
    amounts = Counter(str(a) for a in session.scalars(select(CashTransaction.amount)))
    assert amounts == Counter({"-1.34": 2, "12": 1, "0.5": 1})
    counts = second.accounts[0].counts
    assert counts["trades"] == {"inserted": 1, "updated": 0, "unchanged": 1}
    assert counts["cash_transactions"] == {"inserted": 1, "updated": 0, "unchanged": 3}


def test_both_files_at_once_give_the_same_ledger(session: Session, user: User) -> None:
    summary = import_flex(session, user, ("jan.xml", _january()), ("feb.xml", _mid_january_to_february()))
    assert session.scalar(select(func.count(Trade.id))) == 3
    assert session.scalar(select(func.count(CashTransaction.id))) == 4
    assert written(import_flex(session, user, ("feb.xml", _mid_january_to_february()))) == 0
    assert summary.accounts[0].external_account_id == "U1"


def test_generated_multi_account_statement(session: Session, user: User, tmp_path: Path) -> None:
    out = tmp_path / "three.xml"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gen_flex.py"),
            "90",
            str(out),
            "--accounts",
            "3",
            "--seed",
            "7",
        ],
        check=True,
        capture_output=True,
    )
    root = ET.parse(out).getroot()
    expected = Counter(t.get("accountId") for t in root.iter("Trade"))
    expected_positions = Counter(p.get("accountId") for p in root.iter("OpenPosition"))

    summary = import_flex(session, user, (out.name, out.read_bytes()))

    assert len(summary.accounts) == 3
    accounts = {a.external_account_id: a.id for a in session.scalars(select(BrokerAccount))}
    for number, account_id in accounts.items():
        trades = session.scalar(select(func.count(Trade.id)).where(Trade.account_id == account_id))
        positions = session.scalar(select(func.count(Position.id)).where(Position.account_id == account_id))
        assert (trades, positions) == (expected[number], expected_positions[number])
    assert written(import_flex(session, user, (out.name, out.read_bytes()))) == 0
