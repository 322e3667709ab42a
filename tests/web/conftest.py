"""Fixtures for the web UI tests: the real app on a test database, and a browser-like client that
registers and logs in through the pages (cookies, CSRF tokens) as a person would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import client_for, make_settings

DATA = Path(__file__).resolve().parents[1] / "data" / "web"
FLEX_FIXTURE = DATA / "activity_daily_portfolio.xml"
PASSWORD = "correct horse battery"
# A fixed "today" for the demo data set, so numbers in tests never depend on the calendar.
DEMO_TODAY = date(2025, 6, 16)

# Every page carries the token in <meta name="csrf-token">; forms repeat it in a hidden field.
_CSRF = re.compile(r'name="csrf(?:_token" value|-token" content)="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


@dataclass
class Browser:
    """A TestClient used like a browser: keeps cookies, reads the CSRF token off each page."""

    client: TestClient

    def get(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kwargs)  # type: ignore[arg-type]

    def form_token(self, page: str = "/settings") -> str:
        response = self.client.get(page)
        assert response.status_code == 200, response.text
        return csrf_of(response.text)

    def post_form(self, url: str, data: dict[str, str], page: str = "/settings", **kwargs: object):  # type: ignore[no-untyped-def]
        payload = {"csrf_token": self.form_token(page), **data}
        return self.client.post(url, data=payload, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def register(client: TestClient, email: str = "first@example.com") -> None:
    page = client.get("/register")
    response = client.post(
        "/register",
        data={
            "csrf_token": csrf_of(page.text),
            "email": email,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def login(client: TestClient, email: str) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def web_settings(sqlite_engine):  # type: ignore[no-untyped-def]
    """Page tests run on SQLite (fast); the data-reading tests run on both engines."""
    return make_settings(sqlite_engine.url.render_as_string(hide_password=False))


@pytest.fixture
def web_client(web_settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with client_for(web_settings) as client:
        yield client


@pytest.fixture
def browser(web_client: TestClient) -> Browser:
    register(web_client)
    return Browser(web_client)
