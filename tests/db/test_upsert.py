from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

import foliosync.db.upsert as upsert_module
from foliosync.db.upsert import bulk_upsert
from foliosync.models import BrokerAccount, CashTransaction, Instrument, User


@pytest.fixture(autouse=True, params=["conflict-merge", "join-merge"])
def merge_strategy(request, monkeypatch):
    """Every test runs with both PostgreSQL merges (db/upsert.py picks one by batch size): one
    INSERT ... ON CONFLICT, and UPDATE join + anti-join INSERT. SQLite runs the same path twice."""
    monkeypatch.setattr(
        upsert_module, "JOIN_MERGE_MIN_ROWS", 10**9 if request.param == "conflict-merge" else 1
    )
    return request.param


KEY = ("account_id", "source", "natural_key")


def _account(session) -> int:
    user = User(email="u@example.com", password_hash="x")
    session.add(user)
    session.flush()
    account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id="U1", alias="a")
    session.add(account)
    session.flush()
    return account.id


def _row(account_id: int, key: str, amount: Decimal, kind: str = "FEE") -> dict:
    return {
        "account_id": account_id,
        "source": "flex_xml",
        "natural_key": key,
        "kind": kind,
        "amount": amount,
        "currency": "USD",
        "posted_date": date(2025, 1, 2),
        "status": "POSTED",
        "needs_review": False,
        "flow_scope": "NONE",
    }


def test_insert_then_unchanged_then_update_counts(session):
    acct = _account(session)
    table = CashTransaction.__table__
    rows = [_row(acct, f"k{i}", Decimal(i) / 100) for i in range(50)]
    first = bulk_upsert(session, table, rows, KEY)
    assert (first.inserted, first.updated, first.unchanged) == (50, 0, 0)
    again = bulk_upsert(session, table, rows, KEY)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 50)
    rows[3] = _row(acct, "k3", Decimal("9.99"))
    rows.append(_row(acct, "k-new", Decimal("1")))
    third = bulk_upsert(session, table, rows, KEY)
    assert (third.inserted, third.updated, third.unchanged) == (1, 1, 49)
    session.commit()
    assert session.scalar(select(func.count(CashTransaction.id))) == 51
    assert session.scalar(
        select(CashTransaction.amount).where(CashTransaction.natural_key == "k3")
    ) == Decimal("9.99")


def test_duplicate_keys_in_one_batch_keep_the_last(session):
    acct = _account(session)
    counts = bulk_upsert(
        session, CashTransaction.__table__, [_row(acct, "k", Decimal(1)), _row(acct, "k", Decimal(2))], KEY
    )
    assert counts.inserted == 1
    assert session.scalar(select(CashTransaction.amount)) == Decimal(2)


def test_unchanged_rows_are_not_rewritten_on_postgresql(pg_engine):
    """The IS DISTINCT FROM guard: a re-upsert of identical rows creates no new row versions."""
    from foliosync.db.session import session_factory

    session = session_factory(pg_engine)()
    acct = _account(session)
    rows = [_row(acct, f"k{i}", Decimal(i)) for i in range(20)]
    bulk_upsert(session, CashTransaction.__table__, rows, KEY)
    session.commit()
    before = session.execute(text("SELECT natural_key, xmin::text FROM cash_transactions ORDER BY 1")).all()
    counts = bulk_upsert(session, CashTransaction.__table__, rows, KEY)
    session.commit()
    after = session.execute(text("SELECT natural_key, xmin::text FROM cash_transactions ORDER BY 1")).all()
    assert counts.unchanged == 20 and counts.written == 0
    assert before == after
    session.close()


def test_json_columns_compare_by_value(session):
    from foliosync.models import Balance

    acct = _account(session)
    row = {
        "account_id": acct,
        "source": "api",
        "as_of_date": date(2025, 1, 1),
        "currency": "USD",
        "cash": Decimal(1),
        "components": {"stock": "10", "options": "-2"},
    }
    key = ("account_id", "source", "as_of_date", "currency")
    assert bulk_upsert(session, Balance.__table__, [row], key).inserted == 1
    assert bulk_upsert(session, Balance.__table__, [dict(row)], key).unchanged == 1
    changed = dict(row, components={"stock": "11"})
    assert bulk_upsert(session, Balance.__table__, [changed], key).updated == 1


keys = st.sampled_from([f"k{i}" for i in range(6)])
amounts = st.decimals(
    min_value=Decimal("-1000000"),
    max_value=Decimal("1000000"),
    places=8,
    allow_nan=False,
    allow_infinity=False,
)
kinds = st.sampled_from(["FEE", "DIVIDEND"])
batches = st.lists(st.lists(st.tuples(keys, amounts, kinds), max_size=8), min_size=1, max_size=5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_any_sequence_of_upserts_ends_in_the_model_state_with_correct_counts(session, batches):
    """Model: a dict key -> (amount, kind). Each upsert's counts must match the model's diff, and the
    table must equal the model after every step, on SQLite and PostgreSQL."""
    session.rollback()
    session.execute(CashTransaction.__table__.delete())
    session.execute(BrokerAccount.__table__.delete())
    session.execute(User.__table__.delete())
    acct = _account(session)
    model: dict[str, tuple[Decimal, str]] = {}
    for batch in batches:
        latest = {k: (a, kind) for k, a, kind in batch}  # last row wins within a batch
        expected_ins = sum(1 for k in latest if k not in model)
        expected_upd = sum(1 for k, v in latest.items() if k in model and model[k] != v)
        counts = bulk_upsert(
            session, CashTransaction.__table__, [_row(acct, k, a, kind) for k, a, kind in batch], KEY
        )
        model.update(latest)
        assert (counts.inserted, counts.updated) == (expected_ins, expected_upd)
        assert counts.unchanged == len(latest) - expected_ins - expected_upd
        stored = {r.natural_key: (r.amount, r.kind) for r in session.scalars(select(CashTransaction))}
        assert stored == model
    session.rollback()


def test_instruments_are_shared_and_enriched_not_erased(session):
    from foliosync.ledger.records import InstrumentRef
    from foliosync.ledger.taxonomy import AssetCategory
    from foliosync.ledger.writer import ensure_instruments

    plain = InstrumentRef(AssetCategory.STK, "aapl", "USD")
    rich = InstrumentRef(AssetCategory.STK, "AAPL", "USD", conid="265598", isin="US0378331005")
    ids1, c1 = ensure_instruments(session, [plain])
    ids2, c2 = ensure_instruments(session, [rich])
    ids3, c3 = ensure_instruments(session, [plain])
    assert ids1 == ids2 == ids3 and c1.inserted == 1 and c2.updated == 1 and c3.unchanged == 1
    inst = session.scalars(select(Instrument)).one()
    assert (inst.conid, inst.isin, inst.symbol) == ("265598", "US0378331005", "AAPL")


def test_a_first_load_into_an_empty_scope_copies_directly_and_later_loads_merge(pg_engine):
    """PostgreSQL fast path: no row of the account yet, so nothing can conflict; afterwards the
    guarded merge takes over and counts stay exact."""
    from foliosync.db.session import session_factory

    session = session_factory(pg_engine)()
    acct = _account(session)
    rows = [_row(acct, f"k{i}", Decimal(i)) for i in range(30)]
    first = bulk_upsert(session, CashTransaction.__table__, rows, KEY)
    assert (first.inserted, first.updated, first.unchanged) == (30, 0, 0)
    rows[0] = _row(acct, "k0", Decimal("0.5"))
    second = bulk_upsert(session, CashTransaction.__table__, [*rows, _row(acct, "k-new", Decimal(1))], KEY)
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 29)
    session.commit()
    assert session.scalar(select(func.count(CashTransaction.id))) == 31
    session.close()
