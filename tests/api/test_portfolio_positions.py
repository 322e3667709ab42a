"""GET /api/v1/portfolio/positions: the cached hot path (foliosync.api.hot_reads) on both engines."""

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from foliosync.api.portfolio import holdings_cache
from foliosync.db.session import session_scope
from foliosync.ledger.records import Batch, InstrumentRef, PositionRecord
from foliosync.ledger.taxonomy import AssetCategory, Broker, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, User
from tests.support.api import client_for, register_and_login

AAPL = InstrumentRef(AssetCategory.STK, "AAPL", "USD")
MSFT = InstrumentRef(AssetCategory.STK, "MSFT", "USD")
URL = "/api/v1/portfolio/positions"


def _position(account: str, inst: InstrumentRef, qty: str, price: str) -> PositionRecord:
    return PositionRecord(
        account=account,
        instrument=inst,
        as_of_date=date(2025, 3, 3),
        as_of=datetime(2025, 3, 3, 21, tzinfo=UTC),
        quantity=Decimal(qty),
        currency="USD",
        mark_price=Decimal(price),
        market_value=Decimal(qty) * Decimal(price),
    )


def _seed(engine, email: str, positions: dict[str, list[tuple[InstrumentRef, str, str]]]) -> dict[str, int]:
    """Accounts with a position snapshot each, written through the ledger writer (bumping versions)."""
    with session_scope(engine) as session:
        user = session.scalars(select(User).where(User.email == email)).one()
        ids = {}
        for external in positions:
            acct = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=external, alias=external)
            session.add(acct)
            session.flush()
            ids[external] = acct.id
        _write(session, user.id, ids, positions)
    return ids


def _write(session, user_id, ids, positions) -> None:
    batch = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
    batch.positions = [_position(a, inst, q, p) for a, rows in positions.items() for inst, q, p in rows]
    write_batch(session, batch, ids, user_id=user_id)


@pytest.fixture(params=["lifespan", "no-lifespan"])
def api(request, settings):
    """The app with its lifespan (as `serve` runs it) and without (a fresh event loop per request)."""
    holdings_cache.clear()
    client = client_for(settings)
    if request.param == "lifespan":
        with client:
            yield client
    else:
        yield client


def test_holdings_gzip_etag_and_invalidation_on_write(api, engine):
    alice = register_and_login(api, "alice@example.com")
    ids = _seed(engine, "alice@example.com", {"A1": [(AAPL, "10", "150")], "A2": [(AAPL, "5", "150")]})

    plain = api.get(URL, headers={**alice.headers, "Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    body = plain.json()
    assert [(h["symbol"], h["quantity"], h["market_value"], h["accounts"]) for h in body["holdings"]] == [
        ("AAPL", "15", "2250", 2)
    ]
    etag = plain.headers["etag"]
    assert plain.headers["cache-control"] == "private, no-cache"

    zipped = api.get(URL, headers={**alice.headers, "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["etag"] == etag
    assert json.loads(zipped.content) == body  # httpx decompressed it
    assert len(gzip.compress(plain.content)) < len(plain.content)

    refused = api.get(URL, headers={**alice.headers, "Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers

    not_modified = api.get(URL, headers={**alice.headers, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""

    # A write from anywhere (here: straight through the ledger writer) moves the versions: new answer.
    with session_scope(engine) as session:
        user_id = session.scalars(select(User.id).where(User.email == "alice@example.com")).one()
        _write(session, user_id, ids, {"A1": [(AAPL, "10", "150"), (MSFT, "2", "400")]})
    changed = api.get(URL, headers={**alice.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert {h["symbol"]: h["market_value"] for h in changed.json()["holdings"]} == {
        "AAPL": "2250",
        "MSFT": "800",
    }
    assert changed.json()["total_market_value_base"] == "3050"

    one = api.get(f"{URL}?account_id={ids['A2']}", headers=alice.headers).json()
    assert [(h["symbol"], h["quantity"]) for h in one["holdings"]] == [("AAPL", "5")]


def test_the_hot_path_still_checks_who_is_asking(api, engine):
    alice = register_and_login(api, "alice@example.com")
    bob = register_and_login(api, "bob@example.com")
    ids = _seed(engine, "alice@example.com", {"A1": [(AAPL, "1", "100")]})
    assert api.get(URL, headers=alice.headers).json()["holdings"][0]["symbol"] == "AAPL"

    assert api.get(URL).status_code == 401
    assert api.get(URL, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert api.get(f"{URL}?account_id={ids['A1']}", headers=bob.headers).status_code == 404
    assert api.get(URL, headers=bob.headers).json() == {"holdings": [], "total_market_value_base": "0"}

    # A deactivated user's unexpired token stops working at once, cached answer or not.
    with session_scope(engine) as session:
        session.execute(update(User).where(User.email == "alice@example.com").values(is_active=False))
    refused = api.get(URL, headers=alice.headers)
    assert refused.status_code == 401 and refused.json()["message"] == "This account no longer exists."
