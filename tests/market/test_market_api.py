"""The market router on its own FastAPI app, with the lead's auth/session dependencies overridden."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from foliosync.api import market
from foliosync.api.deps import app_settings, current_user, db_session
from foliosync.db.session import session_factory
from foliosync.errors import FoliosyncError
from foliosync.kv import MemoryStore
from foliosync.market.constituents.service import refresh_constituents
from foliosync.market.indicators.snapshot import FIELDS
from foliosync.market.indices import IndexName
from foliosync.market.prices.store import upsert_bars
from foliosync.market.providers.base import Bar
from foliosync.models import BrokerAccount, Instrument, Position, User
from tests.fakes.fmp_server import make_bars
from tests.support.api import make_settings

from .conftest import DOW30, fmp_client, wiki_client

TODAY = datetime.now(UTC).date()


def build_app(engine, user: User | None, settings) -> FastAPI:
    app = FastAPI()
    app.include_router(market.router)

    @app.exception_handler(FoliosyncError)
    async def _error(_request: Request, exc: FoliosyncError) -> JSONResponse:
        body = {"error": exc.code, "message": exc.message}
        if exc.hint:
            body["hint"] = exc.hint
        return JSONResponse(status_code=exc.status_code, content=body)

    make = session_factory(engine)

    def _session():
        session = make()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    app.state.settings = settings
    app.state.sessionmaker = make
    app.dependency_overrides[db_session] = _session
    app.dependency_overrides[app_settings] = lambda: settings
    if user is not None:
        app.dependency_overrides[current_user] = lambda: user
    return app


@pytest.fixture
def world(engine, fmp, wiki):
    """Two users, the Dow refreshed from the FMP fake, 300 bars for three symbols, Alice holds AAPL."""
    settings = make_settings(str(engine.url), redis_url=None)
    with session_factory(engine)() as session:
        alice, bob = (
            User(email="a@example.com", password_hash="x"),
            User(email="b@example.com", password_hash="x"),
        )
        session.add_all([alice, bob])
        session.flush()
        refresh_constituents(
            session,
            settings,
            [IndexName.DOW30],
            providers=[fmp_client(fmp), wiki_client(wiki)],
            store=MemoryStore(),
        )
        for i, symbol in enumerate(["AAPL", "MSFT", "BRK.B"]):
            rows = make_bars(symbol, TODAY - timedelta(days=440), 300, seed=i)
            upsert_bars(
                session,
                [
                    Bar(
                        symbol,
                        date.fromisoformat(r["date"]),
                        *(Decimal(str(r[k])) for k in ("open", "high", "low", "close")),
                        r["volume"],
                        "fmp",
                    )
                    for r in rows
                ],
            )
        account = BrokerAccount(user_id=alice.id, broker="ibkr", external_account_id="U1", alias="Main")
        session.add(account)
        session.flush()
        inst = Instrument(key="STK:AAPL:USD", asset_category="STK", symbol="AAPL", currency="USD")
        session.add(inst)
        session.flush()
        session.add(
            Position(
                account_id=account.id,
                instrument_id=inst.id,
                source="api",
                as_of_date=TODAY,
                as_of=datetime.now(UTC),
                quantity=Decimal("12"),
                currency="USD",
            )
        )
        session.commit()
        return settings, alice, bob


def client(engine, settings, user) -> TestClient:
    return TestClient(build_app(engine, user, settings))


def test_constituents_from_the_database_and_errors(engine, world):
    settings, alice, _ = world
    api = client(engine, settings, alice)
    body = api.get("/api/v1/market/constituents", params={"index": "dow"}).json()
    assert body["index"] == "DOW30" and body["source"] == "fmp" and body["count"] == 30
    assert [m["symbol"] for m in body["members"]] == sorted(DOW30)
    missing = api.get("/api/v1/market/constituents", params={"index": "SP500"})
    assert missing.status_code == 404 and "foliosync market refresh" in missing.json()["hint"]
    bad = api.get("/api/v1/market/constituents", params={"index": "FTSE"})
    assert bad.status_code == 422 and "SP500, NASDAQ100, DOW30" in bad.json()["message"]


def test_login_is_required(engine, world):
    settings, _, _ = world
    response = client(engine, settings, None).get("/api/v1/market/atr", params={"symbol": "AAPL"})
    assert response.status_code == 401


def test_prices_by_range_are_exact_decimals(engine, world):
    settings, alice, _ = world
    api = client(engine, settings, alice)
    body = api.get("/api/v1/market/prices", params={"symbol": "brk-b", "range": "1m"}).json()
    assert body["symbol"] == "BRK.B"
    assert all(date.fromisoformat(b["date"]) >= TODAY - timedelta(days=31) for b in body["bars"])
    assert body["count"] == len(body["bars"]) > 0
    assert body["bars"][0]["source"] == "fmp" and Decimal(body["bars"][0]["close"]) > 0
    everything = api.get("/api/v1/market/prices", params={"symbol": "AAPL", "range": "max"}).json()
    assert everything["count"] == 300
    assert api.get("/api/v1/market/prices", params={"symbol": "AAPL", "range": "7w"}).status_code == 422
    assert api.get("/api/v1/market/prices", params={"symbol": "NOT A TICKER"}).status_code == 422
    assert api.get("/api/v1/market/prices", params={"symbol": "NVDA"}).status_code == 404


def test_atr_and_ta(engine, world):
    settings, alice, _ = world
    api = client(engine, settings, alice)
    atr = api.get("/api/v1/market/atr", params={"symbol": "AAPL"}).json()
    assert atr["bars"] == 300 and atr["atr_14"] > 0
    assert atr["stop_2_atr"] == pytest.approx(atr["close"] - 2 * atr["atr_14"], abs=1e-4)
    assert atr["atr_pct"] == pytest.approx(100 * atr["atr_14"] / atr["close"], rel=1e-9)
    ta = api.get("/api/v1/market/ta", params={"symbol": "AAPL"}).json()
    assert set(ta["values"]) == set(FIELDS)
    assert ta["values"]["atr_14"] == atr["atr_14"] and ta["values"]["sma_200"] is not None
    assert api.get("/api/v1/market/ta", params={"symbol": "ZZZZ"}).status_code == 404


def test_scan_presets_expressions_and_errors(engine, world):
    settings, alice, bob = world
    api = client(engine, settings, alice)
    body = api.post(
        "/api/v1/market/scan",
        json={
            "expression": "bars >= 300 and close > 0",
            "universe": ["AAPL", "MSFT", "BRK.B"],
            "gate": False,
        },
    ).json()
    assert sorted(r["symbol"] for r in body["rows"]) == ["AAPL", "BRK.B", "MSFT"]
    assert body["matched"] == 3 and body["gate"] is None
    aapl = next(r for r in body["rows"] if r["symbol"] == "AAPL")
    assert aapl["indices"] == ["DOW30", "HELD"]
    gated = api.post("/api/v1/market/scan", json={"preset": "squeeze"}).json()
    assert gated["preset"] == "squeeze" and gated["expression"] == "atr_ratio < 0.75 and close > sma_50"
    assert gated["universe_size"] == 30 and len(gated["no_data"]) == 28  # Dow members without bars
    held = api.post(
        "/api/v1/market/scan", json={"expression": "close > 0", "universe": "HELD", "gate": False}
    ).json()
    assert [r["symbol"] for r in held["rows"]] == ["AAPL"]
    bobs = (
        client(engine, settings, bob)
        .post("/api/v1/market/scan", json={"expression": "close > 0", "universe": "HELD", "gate": False})
        .json()
    )
    assert bobs["rows"] == []
    unknown = api.post("/api/v1/market/scan", json={"expression": "atr_pc > 3"})
    assert unknown.status_code == 422
    assert (
        "unknown field 'atr_pc'" in unknown.json()["message"] and "Valid fields:" in unknown.json()["message"]
    )
    assert api.post("/api/v1/market/scan", json={}).status_code == 422
    assert (
        api.post("/api/v1/market/scan", json={"preset": "squeeze", "expression": "close > 1"}).status_code
        == 422
    )
    assert api.post("/api/v1/market/scan", json={"preset": "nope"}).status_code == 422


def test_holdings_are_scoped_to_the_caller(engine, world):
    settings, alice, bob = world
    mine = client(engine, settings, alice).get("/api/v1/market/holdings").json()
    [aapl] = mine["positions"]
    assert aapl["symbol"] == "AAPL" and aapl["account"] == "Main" and Decimal(aapl["quantity"]) == 12
    assert Decimal(aapl["stop"]) == Decimal(aapl["close"]) - 2 * Decimal(aapl["atr_14"])
    assert Decimal(aapl["risk_amount"]) == (12 * Decimal(aapl["distance"])).quantize(Decimal("0.01"))
    assert client(engine, settings, bob).get("/api/v1/market/holdings").json()["positions"] == []


def test_catalogue_lists_fields_presets_and_gate(engine, world):
    settings, alice, _ = world
    body = client(engine, settings, alice).get("/api/v1/market/fields").json()
    assert {f["name"] for f in body["fields"]} == set(FIELDS)
    assert {p["name"] for p in body["presets"]} >= {"high_atr_movers", "golden_cross", "gaps", "squeeze"}
    assert "close >= 10" in body["gate"]


def test_router_is_mounted_in_the_real_app_behind_login(tmp_path):
    from tests.support.api import client_for, register_and_login

    settings = make_settings(f"sqlite:///{tmp_path}/app.db")
    with client_for(settings) as api:
        assert api.get("/api/v1/market/fields").status_code == 401
        user = register_and_login(api, "trader@example.com")
        body = api.get("/api/v1/market/fields", headers=user.headers).json()
        assert "high_atr_movers" in {p["name"] for p in body["presets"]}
        missing = api.get("/api/v1/market/constituents", params={"index": "DOW30"}, headers=user.headers)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        held = api.get("/api/v1/market/holdings", headers=user.headers).json()
        assert held == {"multiple": "2", "positions": []}
