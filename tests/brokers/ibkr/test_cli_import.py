"""`foliosync import FORMAT FILE...` end to end on a temporary SQLite database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from foliosync.cli.context import console, err_console
from foliosync.cli.main import app
from foliosync.config import get_settings
from foliosync.db.session import engine_for, session_factory
from foliosync.models import BrokerAccount, CashTransaction, Trade, User
from tests.brokers.ibkr.conftest import DATA
from tests.brokers.ibkr.test_hostile_files import XXE

runner = CliRunner()
F14 = DATA / "portfolio-performance" / "testIBFlexStatementFile14.xml"
F26 = DATA / "portfolio-performance" / "testIBFlexStatementFile26.xml"


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("FOLIOSYNC_USER", raising=False)
    monkeypatch.setattr(console, "width", 200)
    monkeypatch.setattr(err_console, "width", 200)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _count(url: str, model: type) -> int:
    with session_factory(engine_for(url))() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_import_prints_a_summary_per_account(db_url: str) -> None:
    result = runner.invoke(app, ["import", "ibkr-flex", str(F14), str(F26)])
    assert result.exit_code == 0, result.output
    out = result.output
    for number in ("U000000", "U1234567", "U1234568"):
        assert f"({number}, id " in out
    assert "Records" in out and "trades" in out and "cash_transactions" in out
    assert "DEPOSIT" in out and "3000" in out  # cash totals per kind and currency
    assert "ledger matches what the broker reports" in out  # statement 14 reconciles
    assert "Trades (account U1234568)" in out  # the PARTIAL reason is shown
    assert _count(db_url, Trade) == 7
    assert _count(db_url, BrokerAccount) == 3


def test_json_summary_and_an_unchanged_reimport(db_url: str) -> None:
    first = runner.invoke(app, ["import", "ibkr-flex", str(F14), "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["format"] == "ibkr-flex" and summary["files"] == [F14.name]
    (account,) = summary["accounts"]
    assert account["external_account_id"] == "U000000"
    assert account["counts"]["trades"] == {"inserted": 6, "updated": 0, "unchanged": 0}
    assert account["cash_totals"]["DEPOSIT"] == {"CHF": "3000"}
    assert account["reconciliation"]["checked"] is True and account["reconciliation"]["ok"] is True
    assert account["status"] == "SUCCESS"

    again = json.loads(runner.invoke(app, ["import", "ibkr-flex", str(F14), "--json"]).stdout)
    counts = again["accounts"][0]["counts"]
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in counts.values())
    assert counts["trades"]["unchanged"] == 6


def test_a_bad_file_exits_1_and_writes_nothing(db_url: str, tmp_path) -> None:
    hostile = tmp_path / "statement.xml"
    hostile.write_bytes(XXE)
    result = runner.invoke(app, ["import", "ibkr-flex", str(F14), str(hostile)])
    assert result.exit_code == 1
    assert "statement.xml, line 2: the file declares a DTD" in result.output
    assert "Nothing was written." in result.output
    for model in (User, BrokerAccount, Trade, CashTransaction):
        assert _count(db_url, model) == 0


def test_unknown_format_and_missing_file_say_what_to_do(db_url: str, tmp_path) -> None:
    unknown = runner.invoke(app, ["import", "no-such-format", str(F14)])
    assert unknown.exit_code == 1
    assert "Unknown import format 'no-such-format'" in unknown.output and "ibkr-flex" in unknown.output
    missing = runner.invoke(app, ["import", "ibkr-flex", str(tmp_path / "nope.xml")])
    assert missing.exit_code == 1 and "Cannot read" in missing.output


def test_unknown_account_is_refused(db_url: str) -> None:
    result = runner.invoke(app, ["import", "ibkr-flex", str(F14), "--account", "42"])
    assert result.exit_code == 1
    assert "no account 42" in result.output and "foliosync accounts list" in result.output
