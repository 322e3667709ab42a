"""Fixtures for the Schwab tests: the fake Schwab, settings pointing at it, and one app per module."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from foliosync.app import create_app
from foliosync.auth.passwords import unusable_password_hash
from foliosync.auth.tokens import issue_access_token
from foliosync.brokers.schwab.oauth import SchwabOAuthClient, SchwabOAuthConfig, TokenSet
from foliosync.brokers.schwab.tokens import SchwabTokenManager
from foliosync.config import Settings
from foliosync.models import BrokerAccount, User
from foliosync.vault import vault_from_settings
from foliosync.vault.store import open_credentials, save_credentials
from tests.fakes.schwab_server import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, FakeSchwab
from tests.support.api import ApiUser, make_settings

LINK = "/api/v1/aggregator/schwab/link"


@pytest.fixture(scope="session")
def schwab_server() -> Iterator[FakeSchwab]:
    with FakeSchwab() as server:
        yield server


@pytest.fixture
def fake(schwab_server: FakeSchwab) -> FakeSchwab:
    """The fake, back to its fixture accounts with zeroed counters."""
    schwab_server.reset()
    return schwab_server


def schwab_settings(database_url: str, fake: FakeSchwab, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "schwab_client_id": CLIENT_ID,
        "schwab_client_secret": CLIENT_SECRET,
        "schwab_redirect_uri": REDIRECT_URI,
        "schwab_api_url": fake.url,
        "schwab_auth_url": fake.auth_url,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, schwab_server: FakeSchwab) -> Settings:
    return schwab_settings(f"sqlite:///{tmp_path_factory.mktemp('schwab-api') / 'api.db'}", schwab_server)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    """One app and database per module (create_app migrates); each test acts as its own users."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def db(client: TestClient) -> Session:
    return Session(client.app.state.engine)  # type: ignore[attr-defined]


def new_user(client: TestClient, settings: Settings) -> ApiUser:
    """A user with a valid bearer token, without paying for Argon2 in every test (the API's own
    register + login run in test_link_flow_connects_the_account_and_stores_the_tokens_encrypted)."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    with db(client) as session:
        user = User(email=email, password_hash=unusable_password_hash())
        session.add(user)
        session.commit()
        return ApiUser(email, issue_access_token(settings, user.id))


@pytest.fixture
def alice(client: TestClient, settings: Settings) -> ApiUser:
    return new_user(client, settings)


def start_link(
    client: TestClient, user: ApiUser, account_id: int | None = None, trading: bool = False
) -> dict:
    response = client.post(LINK, json={"account_id": account_id, "trading": trading}, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def follow_consent(authorization_url: str) -> str:
    """Open the authorization URL on the fake (it consents at once) and return the callback's
    path and query, as the browser would request it from foliosync."""
    response = httpx.get(authorization_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return f"{location.path}?{location.query}"


def link_account(client: TestClient, user: ApiUser, *, trading: bool = False) -> int:
    """Run the whole link flow; the id of the connected account."""
    started = start_link(client, user, trading=trading)
    response = client.get(follow_consent(started["authorization_url"]))
    assert response.status_code == 200, response.text
    return int(response.json()["account_id"])


def seed_account(
    engine: Engine, fake: FakeSchwab, *, consent_at: datetime, access_expires_at: datetime
) -> tuple[int, TokenSet]:
    """A linked Schwab account whose stored tokens the fake knows."""
    issued = fake.issue_tokens(consent_at=consent_at, access_expires_at=access_expires_at)
    tokens = TokenSet(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        access_expires_at=access_expires_at,
        refresh_issued_at=consent_at,
    )
    settings = schwab_settings(engine.url.render_as_string(hide_password=False), fake)
    with Session(engine) as session:
        user = User(email="tokens@example.com", password_hash="!")
        session.add(user)
        session.flush()
        account = BrokerAccount(
            user_id=user.id,
            broker="schwab",
            external_account_id="12345678",
            status="CONNECTED",
            reauth_due_at=tokens.refresh_expires_at,
            details={"account_hash": next(iter(fake.accounts))},
        )
        session.add(account)
        session.flush()
        save_credentials(session, vault_from_settings(settings), account.id, tokens.to_credentials())
        session.commit()
        return account.id, tokens


def manager_for(engine: Engine, fake: FakeSchwab, **kwargs: object) -> SchwabTokenManager:
    settings = schwab_settings(engine.url.render_as_string(hide_password=False), fake)
    oauth = SchwabOAuthClient(SchwabOAuthConfig.from_settings(settings))
    return SchwabTokenManager(engine, vault_from_settings(settings), oauth, **kwargs)  # type: ignore[arg-type]


def stored_tokens(engine: Engine, fake: FakeSchwab, account_id: int) -> TokenSet:
    settings = schwab_settings(engine.url.render_as_string(hide_password=False), fake)
    with Session(engine) as session:
        credentials = open_credentials(session, vault_from_settings(settings), account_id)
    assert credentials is not None
    return TokenSet.from_credentials(credentials)
