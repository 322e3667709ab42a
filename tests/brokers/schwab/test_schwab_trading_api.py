"""Orders through the API: refused with the reason unless FEATURE_SCHWAB_TRADING is on AND the
account was linked with trading; then preview, place and cancel reach the fake Schwab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from foliosync.config import Settings
from tests.brokers.schwab.conftest import link_account, new_user
from tests.fakes.schwab_server import FakeSchwab
from tests.support.api import ApiUser

HASH = "A1B2C3D4E5F6SYNTHETICHASH0000000000000000000000000000000000000001"
LIMIT_BUY = {
    "symbol": "AAPL",
    "instruction": "BUY",
    "quantity": "10",
    "order_type": "LIMIT",
    "price": "150.50",
}


@pytest.fixture
def trading_on(client: TestClient, settings: Settings) -> Iterator[None]:
    client.app.state.settings = settings.model_copy(update={"feature_schwab_trading": True})  # type: ignore[attr-defined]
    yield
    client.app.state.settings = settings  # type: ignore[attr-defined]


def orders_url(account_id: int, suffix: str = "") -> str:
    return f"/api/v1/accounts/{account_id}/orders{suffix}"


def test_orders_are_refused_while_the_server_has_trading_off(
    client: TestClient, alice: ApiUser, fake: FakeSchwab
) -> None:
    account_id = link_account(client, alice, trading=True)
    for response in (
        client.post(orders_url(account_id, "/preview"), json=LIMIT_BUY, headers=alice.headers),
        client.post(orders_url(account_id), json=LIMIT_BUY, headers=alice.headers),
        client.delete(orders_url(account_id, "/1000000001"), headers=alice.headers),
    ):
        assert response.status_code == 403
        assert response.json()["message"] == "Trading through Schwab is turned off on this server."
        assert "FEATURE_SCHWAB_TRADING=true" in response.json()["hint"]
    assert fake.calls["previewOrder"] + fake.calls["placeOrder"] + fake.calls["cancelOrder"] == 0


def test_orders_are_refused_for_an_account_linked_read_only(
    client: TestClient, alice: ApiUser, fake: FakeSchwab, trading_on: None
) -> None:
    account_id = link_account(client, alice, trading=False)
    response = client.post(orders_url(account_id, "/preview"), json=LIMIT_BUY, headers=alice.headers)
    assert response.status_code == 403
    assert "linked read-only" in response.json()["message"]
    assert '"trading": true' in response.json()["hint"]
    assert fake.calls["previewOrder"] == 0


def test_preview_place_and_cancel_reach_schwab_when_trading_is_allowed(
    client: TestClient, alice: ApiUser, fake: FakeSchwab, trading_on: None
) -> None:
    account_id = link_account(client, alice, trading=True)

    preview = client.post(orders_url(account_id, "/preview"), json=LIMIT_BUY, headers=alice.headers)
    assert preview.status_code == 200, preview.text
    sent = fake.api_requests(f"/trader/v1/accounts/{HASH}/previewOrder")[0].json()
    assert sent == {
        "session": "NORMAL",
        "duration": "DAY",
        "orderType": "LIMIT",
        "orderStrategyType": "SINGLE",
        "price": "150.5",
        "orderLegCollection": [
            {"instruction": "BUY", "quantity": 10, "instrument": {"symbol": "AAPL", "assetType": "EQUITY"}}
        ],
    }
    assert preview.json()["preview"]["orderStrategy"]["status"] == "ACCEPTED"

    option = {
        "asset_type": "OPTION",
        "symbol": "SPY250117P00450000",
        "instruction": "SELL_TO_OPEN",
        "quantity": "1",
        "order_type": "LIMIT",
        "price": "2.45",
    }
    placed = client.post(orders_url(account_id), json=option, headers=alice.headers)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    order = fake.accounts[HASH].orders[order_id]
    assert order["status"] == "WORKING"
    assert order["orderLegCollection"][0]["instrument"] == {
        "symbol": "SPY   250117P00450000",
        "assetType": "OPTION",
    }

    cancelled = client.delete(orders_url(account_id, f"/{order_id}"), headers=alice.headers)
    assert cancelled.status_code == 200
    assert cancelled.json() == {"order_id": order_id, "status": "cancel_requested"}
    assert fake.accounts[HASH].orders[order_id]["status"] == "CANCELED"
    assert (fake.calls["previewOrder"], fake.calls["placeOrder"], fake.calls["cancelOrder"]) == (1, 1, 1)


def test_an_invalid_order_is_refused_before_reaching_schwab(
    client: TestClient, alice: ApiUser, fake: FakeSchwab, trading_on: None
) -> None:
    account_id = link_account(client, alice, trading=True)
    no_price = {**LIMIT_BUY, "price": None}
    response = client.post(orders_url(account_id), json=no_price, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["message"] == "A LIMIT order needs price."
    wrong = {**LIMIT_BUY, "instruction": "BUY_TO_OPEN"}
    assert client.post(orders_url(account_id), json=wrong, headers=alice.headers).status_code == 422
    assert fake.calls["placeOrder"] == 0


def test_cancelling_an_order_schwab_does_not_know_says_so(
    client: TestClient, alice: ApiUser, fake: FakeSchwab, trading_on: None
) -> None:
    account_id = link_account(client, alice, trading=True)
    response = client.delete(orders_url(account_id, "/999"), headers=alice.headers)
    assert response.status_code == 422
    assert "Order not found" in response.json()["message"]


def test_another_users_account_is_404_for_orders(
    client: TestClient, settings: Settings, alice: ApiUser, fake: FakeSchwab, trading_on: None
) -> None:
    account_id = link_account(client, alice, trading=True)
    mallory = new_user(client, settings)
    response = client.post(orders_url(account_id), json=LIMIT_BUY, headers=mallory.headers)
    assert response.status_code == 404
    assert fake.calls["placeOrder"] == 0
