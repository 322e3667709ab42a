"""An import of files already imported into unchanged accounts is answered without parsing them
(sync/import_replay.py), and the answer is exactly what parsing them again would say."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

import foliosync.sync.import_replay as import_replay
from foliosync.brokers.ibkr.flex_format import FORMAT_NAME
from foliosync.importers import get_format
from foliosync.ledger.records import Batch, CashRecord
from foliosync.ledger.taxonomy import Broker, CashKind, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import AccountSync, BrokerAccount, Trade, User
from foliosync.sync.importing import ImportSummary, import_files
from tests.brokers.ibkr.conftest import DATA

STATEMENT = DATA / "portfolio-performance" / "testIBFlexStatementFile14.xml"
TWO_ACCOUNTS = DATA / "portfolio-performance" / "testIBFlexStatementFile26.xml"


@pytest.fixture
def owner(session: Session) -> User:
    user = User(email="replay@example.com", password_hash="x")
    session.add(user)
    session.commit()
    return user


def _import(
    session: Session, owner: User, path: Path, *, opened: bool = True, reparse: bool = False
) -> ImportSummary:
    fmt = get_format(FORMAT_NAME)
    if opened:  # as the CLI: an open file, streamed
        with path.open("rb") as handle:
            summary = import_files(session, owner, fmt, [(path.name, handle)], reparse=reparse)
    else:  # as the API and the web upload: bytes
        summary = import_files(session, owner, fmt, [(path.name, path.read_bytes())], reparse=reparse)
    session.commit()
    return summary


def _answer(summary: ImportSummary) -> list[tuple]:
    """Everything a summary tells the user, per account (not the sync ids)."""
    return [
        (a.account_id, a.counts, a.cash_totals, a.unknown_types, a.reconciliation, a.status, a.warnings)
        for a in summary.accounts
    ] + [tuple(summary.warnings)]


def _versions(session: Session) -> dict[int, int]:
    return {a: v for a, v in session.execute(select(BrokerAccount.id, BrokerAccount.ledger_version))}


@pytest.mark.parametrize("path", [STATEMENT, TWO_ACCOUNTS], ids=["one-account", "two-accounts"])
@pytest.mark.parametrize("opened", [True, False], ids=["streamed", "bytes"])
def test_a_repeated_import_is_answered_as_parsing_would_answer_it(session, owner, path, opened):
    first = _import(session, owner, path, opened=opened)
    assert not first.replayed and sum(c["inserted"] for a in first.accounts for c in a.counts.values()) > 0
    versions, trades = _versions(session), session.scalar(select(func.count()).select_from(Trade))

    replayed = _import(session, owner, path, opened=opened)
    assert replayed.replayed
    assert (
        _versions(session) == versions and session.scalar(select(func.count()).select_from(Trade)) == trades
    )
    for before, after in zip(first.accounts, replayed.accounts, strict=True):
        for table, row in before.counts.items():
            assert after.counts[table] == {"inserted": 0, "updated": 0, "unchanged": sum(row.values())}
        assert (after.cash_totals, after.reconciliation, after.status) == (
            before.cash_totals,
            before.reconciliation,
            before.status,
        )
        sync = session.get(AccountSync, after.sync_id)
        assert sync is not None and sync.details["replay_of_sync"] == before.sync_id
        assert sync.counts == after.counts and sync.trigger == "import"

    parsed = _import(session, owner, path, opened=opened, reparse=True)
    assert not parsed.replayed and _answer(parsed) == _answer(replayed)
    assert _versions(session) == versions  # parsing again wrote nothing either


def test_any_later_write_to_an_account_makes_the_next_import_parse(session, owner):
    first = _import(session, owner, TWO_ACCOUNTS)
    account = session.get(BrokerAccount, first.accounts[1].account_id)
    assert account is not None and account.external_account_id is not None
    batch = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
    batch.cash = [
        CashRecord(
            account=account.external_account_id,
            natural_key="manual-1",
            kind=CashKind.FEE,
            amount=Decimal(-1),
            currency="USD",
            posted_date=date(2020, 1, 2),
            description="a fee from another source",
        )
    ]
    write_batch(session, batch, {account.external_account_id: account.id}, user_id=owner.id)
    session.commit()

    again = _import(session, owner, TWO_ACCOUNTS)
    assert not again.replayed  # parsed: the ledger moved since
    assert all(c["inserted"] + c["updated"] == 0 for a in again.accounts for c in a.counts.values())
    assert _import(session, owner, TWO_ACCOUNTS).replayed  # and now it is the latest import again


def test_a_deleted_account_is_created_again_by_parsing(session, owner):
    first = _import(session, owner, TWO_ACCOUNTS)
    gone = first.accounts[0].account_id
    session.execute(delete(BrokerAccount).where(BrokerAccount.id == gone))
    session.commit()
    again = _import(session, owner, TWO_ACCOUNTS)
    assert not again.replayed
    assert len(again.accounts) == 2 and gone not in {a.account_id for a in again.accounts}
    assert sum(c["inserted"] for c in again.accounts[0].counts.values()) > 0


def test_another_version_of_foliosync_parses_again(session, owner, monkeypatch):
    _import(session, owner, STATEMENT)
    monkeypatch.setattr(import_replay, "__version__", "99.0.0")
    assert not _import(session, owner, STATEMENT).replayed


def test_imports_are_only_replayed_for_the_same_user(session, owner):
    _import(session, owner, STATEMENT)
    other = User(email="other@example.com", password_hash="x")
    session.add(other)
    session.commit()
    theirs = _import(session, other, STATEMENT)
    assert not theirs.replayed
    assert sum(c["inserted"] for c in theirs.accounts[0].counts.values()) > 0


def test_a_file_that_cannot_be_rewound_is_parsed(session, owner):
    class Pipe:
        def __init__(self, data: bytes) -> None:
            self._data, self._pos = data, 0

        def read(self, size: int = -1) -> bytes:
            end = len(self._data) if size < 0 else self._pos + size
            chunk, self._pos = self._data[self._pos : end], min(end, len(self._data))
            return chunk

        def seekable(self) -> bool:
            return False

        def tell(self) -> int:
            return self._pos

    content = STATEMENT.read_bytes()
    fmt = get_format(FORMAT_NAME)
    for _ in range(2):
        summary = import_files(session, owner, fmt, [(STATEMENT.name, Pipe(content))])  # type: ignore[list-item]
        session.commit()
        assert not summary.replayed
    assert import_replay.file_digests([(STATEMENT.name, Pipe(content))]) is None  # type: ignore[list-item]
