"""The TastyTrade connect flow end to end: the real app on a temporary SQLite database, the fake
TastyTrade on loopback, the background job, the vault."""

from __future__ import annotations

import json
import logging
import time

import pytest
import redis
from sqlalchemy import select

from foliosync.api.tastytrade import connect_service
from foliosync.brokers.tastytrade.adapter import TastyTradeAdapter
from foliosync.brokers.tastytrade.connect import JOB_KEY_PREFIX, TastyTradeConnectService, wait_for_jobs
from foliosync.db.session import session_scope
from foliosync.kv import store_for
from foliosync.models import AccountCredential, BrokerAccount, User
from foliosync.vault import vault_from_settings
from tests.brokers.tastytrade.conftest import SECRETS
from tests.support.api import client_for, make_settings, register_and_login

CONNECT = "/api/v1/aggregator/tastytrade/connect"
STATUS = "/api/v1/aggregator/tastytrade/status"


@pytest.fixture
def settings(tmp_path, fake):
    return make_settings(f"sqlite:///{tmp_path / 'connect.db'}", tastytrade_api_url=fake.url)


@pytest.fixture
def client(settings):
    with client_for(settings) as c:
        yield c
    wait_for_jobs()


@pytest.fixture
def responses():
    """Every response body a test saw, to prove no secret ever comes back."""
    return []


def poll(client, user, job_id, responses, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(STATUS, params={"job_id": job_id}, headers=user.headers)
        responses.append(response.text)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def connect(client, user, credentials, responses):
    response = client.post(CONNECT, json=credentials, headers=user.headers)
    responses.append(response.text)
    assert response.status_code == 202, response.text
    started = response.json()
    assert set(started) == {"job_id", "status"}
    assert started["status"] == "pending"
    return poll(client, user, started["job_id"], responses), started["job_id"]


def accounts_of(settings, email):
    from foliosync.db.session import build_engine

    engine = build_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            user_id = session.scalar(select(User.id).where(User.email == email))
            rows = session.scalars(select(BrokerAccount).where(BrokerAccount.user_id == user_id)).all()
            creds = {
                c.account_id: c.ciphertext
                for c in session.scalars(
                    select(AccountCredential).where(AccountCredential.account_id.in_([r.id for r in rows]))
                )
            }
            session.expunge_all()
            return rows, creds
    finally:
        engine.dispose()


def test_connect_creates_accounts_with_encrypted_credentials(
    client, settings, fake, credentials, responses, caplog
):
    caplog.set_level(logging.DEBUG)
    user = register_and_login(client, "ann@example.com")

    status, job_id = connect(client, user, credentials, responses)

    assert status["status"] == "success", status
    [connected] = status["accounts"]
    assert (connected["external_account_id"], connected["alias"]) == ("5WX00001", "Individual")
    rows, ciphertexts = accounts_of(settings, "ann@example.com")
    [account] = rows
    assert (account.id, account.broker, account.status) == (connected["id"], "tastytrade", "CONNECTED")
    assert account.external_account_id == "5WX00001"
    assert account.details["margin_or_cash"] == "Margin"
    stored = vault_from_settings(settings).decrypt(ciphertexts[account.id])
    assert (stored["client_secret"], stored["refresh_token"]) == (
        credentials["client_secret"],
        credentials["refresh_token"],
    )
    assert stored["access_token"] == "fake-access-token-1"  # the first sync reuses it
    assert not any(s.encode() in ciphertexts[account.id] for s in SECRETS)
    job = store_for(None).get_json(JOB_KEY_PREFIX + job_id)
    assert job["status"] == "success"
    for text in [*responses, json.dumps(job), caplog.text]:
        assert not any(s in text for s in (*SECRETS, "fake-access-token-1"))


def test_connecting_again_renews_the_credentials_of_the_existing_account(
    client, settings, fake, credentials, responses
):
    user = register_and_login(client, "bob@example.com")
    first, _ = connect(client, user, credentials, responses)
    second, _ = connect(client, user, credentials, responses)

    assert first["accounts"] == second["accounts"]
    rows, ciphertexts = accounts_of(settings, "bob@example.com")
    assert len(rows) == 1
    assert (
        vault_from_settings(settings).decrypt(ciphertexts[rows[0].id])["access_token"]
        == "fake-access-token-2"
    )


def test_wrong_client_secret_is_reported_and_creates_nothing(client, settings, credentials, responses):
    user = register_and_login(client, "cat@example.com")

    status, _ = connect(client, user, {**credentials, "client_secret": "typo-secret"}, responses)

    assert status["status"] == "error"
    assert status["message"] == "TastyTrade rejected the client secret."
    assert "OAuth Applications" in status["hint"]
    assert status["accounts"] == []
    assert accounts_of(settings, "cat@example.com")[0] == []
    assert not any("typo-secret" in text for text in responses)


def test_revoked_refresh_token_says_to_create_a_new_grant(client, fake, credentials, responses):
    user = register_and_login(client, "dan@example.com")
    fake.revoke_refresh_token()

    status, _ = connect(client, user, credentials, responses)

    assert status["status"] == "error"
    assert "revoked" in status["message"]
    assert "Create Grant" in status["hint"]


def test_tastytrade_down_is_an_error_to_retry_later(client, fake, credentials, responses):
    app = client.app
    app.dependency_overrides[connect_service] = lambda: TastyTradeConnectService(
        store=store_for(None),
        sessions=app.state.sessionmaker,
        vault=vault_from_settings(app.state.settings),
        adapter_factory=lambda: TastyTradeAdapter(base_url=fake.url, sleep=lambda _s: None),
    )
    user = register_and_login(client, "eve@example.com")
    fake.fail("/oauth/token", 503, times=10)

    status, _ = connect(client, user, credentials, responses)

    assert status["status"] == "error"
    assert status["message"] == "TastyTrade could not be reached."
    assert "try again in a few minutes" in status["hint"]
    assert len(fake.token_requests()) == 4


def test_a_job_is_visible_only_to_its_owner(client, credentials, responses):
    owner = register_and_login(client, "fay@example.com")
    other = register_and_login(client, "gus@example.com")
    _status, job_id = connect(client, owner, credentials, responses)

    response = client.get(STATUS, params={"job_id": job_id}, headers=other.headers)

    assert response.status_code == 404
    assert response.json()["error"] == "connect_job_not_found"
    assert client.get(STATUS, params={"job_id": "no-such-job"}, headers=owner.headers).status_code == 404
    assert client.get(STATUS, params={"job_id": job_id}).status_code == 401
    assert client.post(CONNECT, json=credentials).status_code == 401


def test_a_bad_body_names_the_fields_but_never_echoes_them(client):
    user = register_and_login(client, "hal@example.com")

    missing = client.post(CONNECT, json={"client_secret": "only-the-secret-9913"}, headers=user.headers)
    blank = client.post(
        CONNECT, json={"client_secret": "  ", "refresh_token": "tok-7731"}, headers=user.headers
    )
    not_json = client.post(CONNECT, content=b"client_secret=abc", headers=user.headers)

    assert missing.status_code == 422
    assert missing.json()["message"] == "Missing or invalid: refresh_token."
    assert "only-the-secret-9913" not in missing.text
    assert blank.status_code == 422
    assert "client_secret" in blank.json()["message"]
    assert "tok-7731" not in blank.text
    assert not_json.status_code == 422


def test_job_state_in_redis_holds_no_secrets(tmp_path, fake, credentials, redis_url, responses):
    settings = make_settings(
        f"sqlite:///{tmp_path / 'redis.db'}", tastytrade_api_url=fake.url, redis_url=redis_url
    )
    with client_for(settings) as client:
        user = register_and_login(client, "ivy@example.com")
        status, job_id = connect(client, user, credentials, responses)
    wait_for_jobs()

    assert status["status"] == "success"
    raw = redis.Redis.from_url(redis_url)
    key = f"foliosync:{JOB_KEY_PREFIX}{job_id}"
    value = raw.get(key)
    assert value is not None
    assert 0 < raw.ttl(key) <= 600
    assert not any(s.encode() in value for s in SECRETS)
