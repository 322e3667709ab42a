"""The Schwab OAuth link, end to end through the API: create_app on a temporary SQLite database,
the fake Schwab for the authorization page, the token endpoint and the Trader API."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from foliosync.config import Settings
from foliosync.models import AccountCredential, BrokerAccount, OAuthState
from foliosync.vault import vault_from_settings
from tests.brokers.schwab.conftest import LINK, db, follow_consent, new_user, start_link
from tests.fakes.schwab_server import CLIENT_ID, REDIRECT_URI, FakeSchwab
from tests.support.api import ApiUser, register_and_login

FIXTURE_NUMBER = "12345678"
FIXTURE_HASH = "A1B2C3D4E5F6SYNTHETICHASH0000000000000000000000000000000000000001"


def test_link_flow_connects_the_account_and_stores_the_tokens_encrypted(
    client: TestClient, fake: FakeSchwab, settings: Settings
) -> None:
    alice = register_and_login(client, f"alice-{secrets.token_hex(4)}@example.com")
    refresh_tokens_before = set(fake.refresh_tokens)
    before = datetime.now(UTC)
    started = start_link(client, alice)

    url = urlsplit(started["authorization_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake.auth_url}/authorize"
    assert {k: v[0] for k, v in parse_qs(url.query).items()} == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": started["state"],
    }
    with db(client) as session:
        pending = session.get(BrokerAccount, started["account_id"])
        assert pending is not None and pending.status == "PENDING" and pending.broker == "schwab"

    callback = follow_consent(started["authorization_url"])
    assert "%40" in callback  # Schwab's codes end in '@', URL-encoded: decoded once, sent back intact
    response = client.get(callback)
    after = datetime.now(UTC)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "connected",
        "account_id": started["account_id"],
        "account_ids": [started["account_id"]],
        "settings_url": f"/settings?linked={started['account_id']}",
    }
    assert fake.token_calls["authorization_code"] == 1
    assert fake.calls["accountNumbers"] == 1
    with db(client) as session:
        account = session.get(BrokerAccount, started["account_id"])
        assert account is not None
        assert account.status == "CONNECTED"
        assert account.external_account_id == FIXTURE_NUMBER
        assert account.details["account_hash"] == FIXTURE_HASH
        assert account.details["trading"] is False
        assert account.needs_reauth is False
        assert account.reauth_due_at is not None
        assert before + timedelta(days=7) <= account.reauth_due_at <= after + timedelta(days=7)
        raw = session.execute(
            text("SELECT ciphertext FROM account_credentials WHERE account_id = :id"), {"id": account.id}
        ).scalar_one()
        stored = vault_from_settings(settings).decrypt(
            session.scalar(
                select(AccountCredential.ciphertext).where(AccountCredential.account_id == account.id)
            )
        )
    (refresh_token,) = set(fake.refresh_tokens) - refresh_tokens_before
    assert stored["refresh_token"] == refresh_token
    assert fake.access_token_valid(stored["access_token"])
    for secret in (stored["access_token"], refresh_token):
        assert secret.encode() not in bytes(raw)
        assert base64.b64encode(secret.encode()) not in bytes(raw)


def test_a_browser_gets_an_html_page_saying_the_account_is_connected(
    client: TestClient, alice: ApiUser
) -> None:
    started = start_link(client, alice)
    response = client.get(follow_consent(started["authorization_url"]), headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Schwab account connected" in response.text
    assert f"/settings?linked={started['account_id']}" in response.text


def test_a_second_account_of_the_same_login_becomes_its_own_connected_account(
    client: TestClient, alice: ApiUser, fake: FakeSchwab, settings: Settings
) -> None:
    fake.add_account("87654321", "B" * 64)
    started = start_link(client, alice)
    response = client.get(follow_consent(started["authorization_url"]))
    assert response.status_code == 200, response.text
    ids = response.json()["account_ids"]
    assert len(ids) == 2 and ids[0] == started["account_id"]
    vault = vault_from_settings(settings)
    with db(client) as session:
        accounts = [session.get(BrokerAccount, i) for i in ids]
        assert [(a.external_account_id, a.status, a.details["account_hash"]) for a in accounts] == [
            (FIXTURE_NUMBER, "CONNECTED", FIXTURE_HASH),
            ("87654321", "CONNECTED", "B" * 64),
        ]
        creds = [
            vault.decrypt(
                session.scalar(select(AccountCredential.ciphertext).where(AccountCredential.account_id == i))
            )
            for i in ids
        ]
    assert creds[0] == creds[1]  # each account holds its own encrypted copy of the login's tokens


def test_relinking_an_account_renews_it_without_creating_another(
    client: TestClient, alice: ApiUser, fake: FakeSchwab
) -> None:
    first = start_link(client, alice)
    assert client.get(follow_consent(first["authorization_url"])).status_code == 200
    again = start_link(client, alice, account_id=first["account_id"])
    response = client.get(follow_consent(again["authorization_url"]))
    assert response.status_code == 200
    assert response.json()["account_ids"] == [first["account_id"]]
    with db(client) as session:
        owned = session.scalars(
            select(BrokerAccount.id).where(BrokerAccount.user_id == account_owner(client, first))
        ).all()
    assert owned == [first["account_id"]]
    assert fake.token_calls["authorization_code"] == 2


def test_a_replayed_callback_is_refused_and_never_reaches_schwab_twice(
    client: TestClient, alice: ApiUser, fake: FakeSchwab
) -> None:
    started = start_link(client, alice)
    callback = follow_consent(started["authorization_url"])
    assert client.get(callback).status_code == 200
    replay = client.get(callback)
    assert replay.status_code == 400
    assert replay.json()["error"] == "oauth_state_invalid"
    assert "already used" in replay.json()["message"]
    assert fake.token_calls["authorization_code"] == 1


def account_owner(client: TestClient, started: dict) -> int:
    with db(client) as session:
        account = session.get(BrokerAccount, started["account_id"])
        assert account is not None
        return account.user_id


def _tamper(state: str, **changes: object) -> str:
    version, payload, mac = state.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{version}.{forged}.{mac}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s, other: _tamper(s, a=other), id="payload-changed"),
        pytest.param(
            lambda s, other: s[:-4] + ("AAAA" if not s.endswith("AAAA") else "BBBB"), id="mac-changed"
        ),
        pytest.param(lambda s, other: "v1.e30.bm90LWEtbWFj", id="made-up"),
    ],
)
def test_a_forged_state_is_refused(
    client: TestClient, settings: Settings, alice: ApiUser, fake: FakeSchwab, forge
) -> None:
    mallory = new_user(client, settings)
    victim_target = start_link(client, mallory)["account_id"]
    started = start_link(client, alice)
    callback = urlsplit(follow_consent(started["authorization_url"]))
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    query["state"] = forge(query["state"], victim_target)
    response = client.get(callback.path, params=query)
    assert response.status_code == 400
    assert response.json()["error"] == "oauth_state_invalid"
    assert "does not verify" in response.json()["message"]
    assert fake.token_calls["authorization_code"] == 0
    with db(client) as session:
        assert session.get(BrokerAccount, victim_target).status == "PENDING"


def test_a_state_presented_by_another_logged_in_user_is_refused(
    client: TestClient, settings: Settings, alice: ApiUser, fake: FakeSchwab
) -> None:
    bob = new_user(client, settings)
    started = start_link(client, alice)
    response = client.get(follow_consent(started["authorization_url"]), headers=bob.headers)
    assert response.status_code == 403
    assert "another foliosync user" in response.json()["message"]
    assert fake.token_calls["authorization_code"] == 0


def test_an_expired_state_is_refused(client: TestClient, alice: ApiUser, fake: FakeSchwab) -> None:
    started = start_link(client, alice)
    with db(client) as session:
        session.execute(
            update(OAuthState)
            .where(OAuthState.account_id == started["account_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    response = client.get(follow_consent(started["authorization_url"]))
    assert response.status_code == 400
    assert "expired" in response.json()["message"]
    assert fake.token_calls["authorization_code"] == 0


def test_declined_consent_ends_on_a_clear_page_and_leaves_the_account_pending(
    client: TestClient, alice: ApiUser, fake: FakeSchwab
) -> None:
    fake.consent = "deny"
    started = start_link(client, alice)
    callback = follow_consent(started["authorization_url"])
    assert "error=access_denied" in callback
    page = client.get(callback, headers={"Accept": "text/html"})
    assert page.status_code == 400
    assert "You declined access at Schwab" in page.text
    api = client.get(callback)
    assert api.status_code == 400 and api.json()["error"] == "schwab_link_failed"
    with db(client) as session:
        assert session.get(BrokerAccount, started["account_id"]).status == "PENDING"
        spent = select(OAuthState.used_at).where(OAuthState.account_id == started["account_id"])
        assert session.scalar(spent) is not None  # the state is spent
    assert fake.token_calls["authorization_code"] == 0


def test_a_code_schwab_refuses_ends_on_a_clear_error(
    client: TestClient, alice: ApiUser, fake: FakeSchwab
) -> None:
    started = start_link(client, alice)
    callback = urlsplit(follow_consent(started["authorization_url"]))
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    query["code"] = "C0.not-a-code@"
    response = client.get(callback.path, params=query)
    assert response.status_code == 400
    assert "did not accept the authorization code (invalid_grant" in response.json()["message"]
    assert "start the link again" in response.json()["hint"]


def test_linking_another_users_account_is_404(client: TestClient, settings: Settings, alice: ApiUser) -> None:
    bob = new_user(client, settings)
    bobs = start_link(client, bob)["account_id"]
    response = client.post(LINK, json={"account_id": bobs, "trading": False}, headers=alice.headers)
    assert response.status_code == 404
    assert client.post(LINK, json={"account_id": None}).status_code == 401


def test_link_status_shows_the_relink_action(client: TestClient, alice: ApiUser) -> None:
    started = start_link(client, alice)
    client.get(follow_consent(started["authorization_url"]))
    response = client.get(
        f"/api/v1/aggregator/schwab/accounts/{started['account_id']}/link", headers=alice.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "CONNECTED" and body["warning"] is None
    assert body["link_action"] == {
        "method": "POST",
        "path": LINK,
        "body": {"account_id": started["account_id"]},
    }


def test_linking_without_a_configured_app_says_what_to_set(
    client: TestClient, settings: Settings, alice: ApiUser
) -> None:
    client.app.state.settings = settings.model_copy(update={"schwab_client_id": None})  # type: ignore[attr-defined]
    try:
        response = client.post(LINK, json={"account_id": None}, headers=alice.headers)
    finally:
        client.app.state.settings = settings  # type: ignore[attr-defined]
    assert response.status_code == 503
    assert "SCHWAB_CLIENT_ID" in response.json()["hint"]


def test_a_linked_account_syncs_through_the_api(
    client: TestClient, settings: Settings, alice: ApiUser, fake: FakeSchwab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Link, then POST /sync: the registry's factory builds the adapter (with its token manager)
    from the server's settings, and the sync service writes what the fake serves."""
    monkeypatch.setattr("foliosync.brokers.schwab.adapter.get_settings", lambda: settings)
    started = start_link(client, alice)
    assert client.get(follow_consent(started["authorization_url"])).status_code == 200
    account_id = started["account_id"]

    queued = client.post(f"/api/v1/accounts/{account_id}/sync", headers=alice.headers)
    assert queued.status_code == 202, queued.text
    sync_url = f"/api/v1/accounts/{account_id}/syncs/{queued.json()['sync_id']}"
    deadline = time.monotonic() + 30
    while (sync := client.get(sync_url, headers=alice.headers).json())["status"] in ("QUEUED", "RUNNING"):
        assert time.monotonic() < deadline, "the sync did not finish"
        time.sleep(0.05)

    assert sync["status"] == "SUCCESS", sync
    assert sync["counts"]["trades"]["inserted"] == 2
    assert sync["counts"]["cash_transactions"]["inserted"] == 2
    assert sync["counts"]["positions"]["inserted"] == 2
    assert fake.calls["transactions"] == 3
    with db(client) as session:
        account = session.get(BrokerAccount, account_id)
        assert account is not None and account.status == "CONNECTED" and account.last_successful_sync
