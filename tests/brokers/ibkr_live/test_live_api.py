"""GET /api/v1/live/{status,positions,quotes}: values, and each user sees only their accounts."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from foliosync.api.deps import current_user, db_session
from foliosync.api.live import router
from foliosync.brokers.ibkr.live import LiveConnection
from foliosync.db.session import session_factory
from foliosync.errors import FoliosyncError
from foliosync.models import BrokerAccount, User
from tests.brokers.ibkr_live.conftest import EMPTY, INDIVIDUAL, IRA

NOT_MANAGED = "U9999999"


def build_app(engine: Engine, live: LiveConnection | None) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    if live is not None:
        app.state.live = live
    factory = session_factory(engine)

    @app.exception_handler(FoliosyncError)
    async def _error(_request: Request, exc: FoliosyncError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": exc.code, "message": exc.message})

    def session_override() -> Iterator[Session]:
        with factory() as session:
            yield session

    def user_override(request: Request) -> User:
        with factory() as session:
            user = session.query(User).filter_by(email=request.headers["x-test-user"]).one()
            session.expunge(user)
            return user

    app.dependency_overrides[db_session] = session_override
    app.dependency_overrides[current_user] = user_override
    return app


@pytest.fixture
def accounts(engine: Engine) -> dict[str, int]:
    """alice owns the individual account (and one TWS does not manage), bob the IRA; nobody the third."""
    with session_factory(engine)() as session:
        ids: dict[str, int] = {}
        for email, numbers in (("alice@example.com", [INDIVIDUAL, NOT_MANAGED]), ("bob@example.com", [IRA])):
            user = User(email=email, password_hash="x", is_admin=email.startswith("alice"))
            session.add(user)
            session.flush()
            for number in numbers:
                account = BrokerAccount(
                    user_id=user.id, broker="ibkr", external_account_id=number, alias=f"{email[:3]}-{number}"
                )
                session.add(account)
                session.flush()
                ids[number] = account.id
        carol = User(email="carol@example.com", password_hash="x")
        session.add(carol)
        # A Schwab account with the same number does not make the IBKR account hers.
        session.flush()
        session.add(BrokerAccount(user_id=carol.id, broker="schwab", external_account_id=EMPTY, alias="x"))
        session.commit()
    return ids


@pytest.fixture
def client(engine: Engine, live: LiveConnection, accounts: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(build_app(engine, live)) as test_client:
        yield test_client


def get(client: TestClient, user: str, path: str) -> dict:  # type: ignore[type-arg]
    response = client.get(path, headers={"x-test-user": f"{user}@example.com"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_status_lists_own_linked_accounts_and_unlinked_ones(
    client: TestClient, accounts: dict[str, int]
) -> None:
    alice = get(client, "alice", "/api/v1/live/status")
    assert (alice["state"], alice["connected"], alice["server_version"], alice["readonly"]) == (
        "connected",
        True,
        178,
        True,
    )
    assert alice["market_data"] == "live"
    assert alice["linked_accounts"] == [
        {"account_id": accounts[INDIVIDUAL], "external_account_id": INDIVIDUAL, "alias": f"ali-{INDIVIDUAL}"}
    ]
    # The IRA is bob's: not offered to alice. Nobody has added EMPTY: offered to the administrator
    # (alice) only; other users never see account numbers that are not theirs.
    assert alice["unlinked_accounts"] == [EMPTY]
    bob = get(client, "bob", "/api/v1/live/status")
    assert [a["external_account_id"] for a in bob["linked_accounts"]] == [IRA]
    assert bob["unlinked_accounts"] == []
    carol = get(client, "carol", "/api/v1/live/status")
    assert (carol["linked_accounts"], carol["unlinked_accounts"]) == ([], [])


def test_positions_are_scoped_to_the_caller(client: TestClient, accounts: dict[str, int]) -> None:
    alice = get(client, "alice", "/api/v1/live/positions")
    assert (alice["state"], alice["stale"]) == ("connected", False)
    assert {p["external_account_id"] for p in alice["positions"]} == {INDIVIDUAL}
    by_symbol = {p["symbol"]: p for p in alice["positions"]}
    assert set(by_symbol) == {"AAPL", "MSFT", "BRK.B", "AAPL  250321C00200000"}
    aapl = by_symbol["AAPL"]
    assert aapl["account_id"] == accounts[INDIVIDUAL]
    assert {
        k: Decimal(aapl[k])
        for k in ("quantity", "average_cost", "cost_basis", "market_price", "market_value", "unrealized_pnl")
    } == {
        "quantity": Decimal("100"),
        "average_cost": Decimal("150.25"),
        "cost_basis": Decimal("15025"),
        "market_price": Decimal("185.12"),
        "market_value": Decimal("18512"),
        "unrealized_pnl": Decimal("3487"),
    }
    total = sum(Decimal(p["market_value"]) for p in alice["positions"])
    assert total == Decimal("18512") + Decimal("-4017.5") + Decimal("630") + Decimal("2276")
    [summary] = alice["accounts"]
    assert summary["external_account_id"] == INDIVIDUAL and summary["currency"] == "USD"
    assert [
        Decimal(summary[k]) for k in ("net_liquidation", "cash", "buying_power", "maintenance_margin")
    ] == [
        Decimal("125432.17"),
        Decimal("98765.93"),
        Decimal("401234.56"),
        Decimal("5432.1"),
    ]
    assert summary["values"]["CashBalance:EUR"] == "1500"

    bob = get(client, "bob", "/api/v1/live/positions")
    assert [(p["symbol"], Decimal(p["quantity"])) for p in bob["positions"]] == [("SPY", Decimal(20))]
    assert [a["external_account_id"] for a in bob["accounts"]] == [IRA]
    carol = get(client, "carol", "/api/v1/live/positions")
    assert (carol["positions"], carol["accounts"]) == ([], [])


def test_quotes_for_symbols_and_for_own_holdings(client: TestClient) -> None:
    answer = get(client, "carol", "/api/v1/live/quotes?symbols=aapl,MSFT")
    assert (answer["connected"], answer["message"]) == (True, None)
    quotes = answer["quotes"]
    assert [(q["symbol"], Decimal(q["price"]), q["delayed"]) for q in quotes] == [
        ("AAPL", Decimal("185.12"), False),
        ("MSFT", Decimal("401.75"), True),
    ]
    held = get(client, "bob", "/api/v1/live/quotes")["quotes"]
    assert [(q["symbol"], Decimal(q["last"])) for q in held] == [("SPY", Decimal("590.05"))]
    assert get(client, "carol", "/api/v1/live/quotes")["quotes"] == []


def test_quote_symbols_are_validated(client: TestClient) -> None:
    headers = {"x-test-user": "carol@example.com"}
    too_many = ",".join(f"S{i}" for i in range(101))
    assert client.get(f"/api/v1/live/quotes?symbols={too_many}", headers=headers).status_code == 422
    bad = client.get("/api/v1/live/quotes?symbols=AAPL;DROP", headers=headers)
    assert bad.status_code == 422 and "Not a ticker symbol: AAPL;DROP" in bad.json()["message"]
    assert client.get("/api/v1/live/quotes?symbols=,", headers=headers).status_code == 422


def test_gateway_down_is_a_status_not_a_server_error(engine: Engine, accounts: dict[str, int]) -> None:
    down = LiveConnection("127.0.0.1", 9, 17)  # never started: nothing streams
    with TestClient(build_app(engine, down)) as client:
        status = get(client, "alice", "/api/v1/live/status")
        assert (status["state"], status["connected"]) == ("stopped", False)
        assert status["linked_accounts"] == []  # no managed accounts known yet
        positions = get(client, "alice", "/api/v1/live/positions")
        assert (positions["stale"], positions["positions"]) == (True, [])
        quotes = get(client, "alice", "/api/v1/live/quotes?symbols=AAPL,MSFT")
        reason = "The live TWS/IB Gateway connection is not started. Check `foliosync live --once` or GET /api/v1/live/status."
        assert (quotes["connected"], quotes["message"]) == (False, reason)
        assert [(q["symbol"], q["price"], q["error"]) for q in quotes["quotes"]] == [
            ("AAPL", None, reason),
            ("MSFT", None, reason),
        ]
        assert get(client, "alice", "/api/v1/live/quotes") == {
            "connected": False,
            "message": None,
            "quotes": [],
        }


def test_connection_is_created_lazily_from_settings(engine: Engine, accounts: dict[str, int]) -> None:
    from foliosync.config import Settings

    app = build_app(engine, None)
    app.state.settings = Settings(ibkr_tws_host="127.0.0.1", ibkr_tws_port=9, ibkr_tws_client_id=41)
    with TestClient(app) as client:
        status = get(client, "alice", "/api/v1/live/status")
        assert (status["port"], status["client_id"]) == (9, 41)
        live = app.state.live
        assert isinstance(live, LiveConnection)
        assert get(client, "bob", "/api/v1/live/status")["client_id"] == 41 and app.state.live is live
        live.stop()


def test_anonymous_request_is_refused_before_any_connection_starts(engine: Engine) -> None:
    from foliosync.config import Settings

    app = build_app(engine, None)
    app.dependency_overrides.clear()  # the real authentication
    app.state.settings = Settings(
        ibkr_tws_port=9, secret_key="test-secret-key-that-is-long-enough-0123456789"
    )
    app.state.sessionmaker = session_factory(engine)
    with TestClient(app) as client:
        for path in ("/status", "/positions", "/quotes?symbols=AAPL"):
            response = client.get(f"/api/v1/live{path}")
            assert response.status_code == 401, response.text
    assert getattr(app.state, "live", None) is None


def test_overlay_lays_fresh_live_marks_over_the_statement_and_lists_differences(
    client: TestClient, accounts: dict[str, int], engine: Engine
) -> None:
    from datetime import UTC, date, datetime

    from foliosync.ledger.records import Batch, InstrumentRef, PositionRecord
    from foliosync.ledger.taxonomy import AssetCategory, Broker, SourceFormat
    from foliosync.ledger.writer import write_batch

    statement = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
    for symbol, qty, mark in (("AAPL", "90", "180"), ("GOOG", "5", "170")):
        statement.positions.append(
            PositionRecord(
                account=INDIVIDUAL,
                instrument=InstrumentRef(AssetCategory.STK, symbol, "USD"),
                as_of_date=date(2025, 1, 2),
                as_of=datetime(2025, 1, 2, 21, tzinfo=UTC),
                quantity=Decimal(qty),
                currency="USD",
                mark_price=Decimal(mark),
                market_value=Decimal(qty) * Decimal(mark),
            )
        )
    with session_factory(engine)() as session:
        user_id = session.get(BrokerAccount, accounts[INDIVIDUAL]).user_id
        write_batch(session, statement, {INDIVIDUAL: accounts[INDIVIDUAL]}, user_id=user_id)
        session.commit()

    view = get(client, "alice", "/api/v1/live/overlay")
    marks = {m["symbol"]: m for m in view["marks"]}
    # AAPL is in both: the live mark wins while fresh, with its age.
    assert (marks["AAPL"]["mark_source"], Decimal(marks["AAPL"]["mark_price"])) == ("live", Decimal("185.12"))
    assert marks["AAPL"]["mark_age_seconds"] is not None and marks["AAPL"]["live_stale"] is False
    differences = {d["symbol"]: (d["kind"], Decimal(d["difference"])) for d in view["differences"]}
    assert differences["AAPL"] == ("changed", Decimal(10))  # 100 live vs 90 on the statement
    assert differences["GOOG"] == ("closed", Decimal(-5))
    assert differences["MSFT"][0] == "opened"
    assert {d["account_id"] for d in view["differences"]} == {accounts[INDIVIDUAL]}
    # Bob sees none of Alice's accounts.
    bob = get(client, "bob", "/api/v1/live/overlay")
    assert {m["external_account_id"] for m in bob["marks"]} <= {IRA}
    assert all(d["external_account_id"] == IRA for d in bob["differences"])


def test_live_snapshots_are_stored_for_every_owner(
    live: LiveConnection, accounts: dict[str, int], engine: Engine
) -> None:
    from sqlalchemy import select

    from foliosync.brokers.ibkr.live_store import store_snapshot
    from foliosync.models import Position

    with session_factory(engine)() as session:
        written = store_snapshot(session, live)
        session.commit()
        rows = session.scalars(select(Position).where(Position.source == "live")).all()
    assert written > 0
    assert {r.account_id for r in rows} == {accounts[INDIVIDUAL], accounts[IRA]}
    assert sum(1 for r in rows if r.account_id == accounts[INDIVIDUAL]) == 4
