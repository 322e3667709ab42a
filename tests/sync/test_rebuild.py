from datetime import date
from decimal import Decimal

from sqlalchemy import select

from foliosync.db.session import session_scope
from foliosync.importers import FileFormat, register_format
from foliosync.ledger.records import Batch, CashRecord
from foliosync.ledger.taxonomy import Broker, CashKind, SourceFormat
from foliosync.models import BrokerAccount, CashTransaction, RawPayload, User
from foliosync.sync.importing import import_files
from foliosync.sync.rebuild import rebuild_ledger


def _parser(kind: CashKind):
    def parse(content: bytes, filename: str) -> Batch:
        batch = Batch(broker=Broker.FIDELITY, source=SourceFormat.CSV)
        for line in content.decode().splitlines():
            key, amount = line.split(",")
            batch.cash.append(
                CashRecord(
                    account="",
                    natural_key=key,
                    kind=kind,
                    amount=Decimal(amount),
                    currency="USD",
                    posted_date=date(2025, 1, 1),
                )
            )
        return batch

    return parse


def test_rebuild_re_derives_rows_with_the_current_mapping(engine):
    register_format(FileFormat("test-rebuild", Broker.FIDELITY, "test", _parser(CashKind.OTHER)))
    with session_scope(engine) as session:
        user = User(email="r@example.com", password_hash="x")
        session.add(user)
        session.flush()
        account = BrokerAccount(user_id=user.id, broker="fidelity", alias="F")
        session.add(account)
        session.flush()
        from foliosync.importers import get_format

        import_files(session, user, get_format("test-rebuild"), [("a.csv", b"k1,10\nk2,-3")], account)
    with session_scope(engine) as session:
        assert {c.kind for c in session.scalars(select(CashTransaction))} == {"OTHER"}
        assert session.scalar(select(RawPayload.kind)) == "test-rebuild"
    # The mapping is fixed: these rows are dividends. Rebuild re-derives them from the kept payload.
    register_format(FileFormat("test-rebuild", Broker.FIDELITY, "test", _parser(CashKind.DIVIDEND)))
    result = rebuild_ledger(engine, user_email="r@example.com")
    assert result.payloads == 1 and not result.failures
    assert result.report.by_table["cash_transactions"].updated == 2
    with session_scope(engine) as session:
        rows = {c.natural_key: (c.kind, c.amount) for c in session.scalars(select(CashTransaction))}
    assert rows == {"k1": ("DIVIDEND", Decimal(10)), "k2": ("DIVIDEND", Decimal(-3))}
    # Rebuilding again writes nothing.
    again = rebuild_ledger(engine, user_email="r@example.com", clean=False)
    assert again.report.written == 0
