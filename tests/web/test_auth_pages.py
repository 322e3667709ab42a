"""Login, logout, first-user registration, the session cookie and CSRF protection."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from foliosync.api.deps import SESSION_COOKIE
from foliosync.app import create_app
from foliosync.auth.service import create_user
from foliosync.db.session import session_factory
from foliosync.models import BrokerAccount, User
from foliosync.web.session import CSRF_COOKIE
from tests.support.api import client_for
from tests.web.conftest import PASSWORD, csrf_of, login, register


def _set_cookie_headers(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_a_new_install_sends_visitors_to_the_first_user_registration(web_client: TestClient):
    first = web_client.get("/", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/login?next=%2F")
    login_page = web_client.get("/login", follow_redirects=False)
    assert (login_page.status_code, login_page.headers["location"]) == (303, "/register")
    page = web_client.get("/register")
    assert "Welcome to foliosync" in page.text and 'name="password_confirm"' in page.text


def test_registration_makes_an_admin_sets_a_safe_cookie_and_then_closes(
    web_client, web_settings, sqlite_engine
):
    page = web_client.get("/register")
    response = web_client.post(
        "/register",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "Ada@Example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/settings")
    cookies = _set_cookie_headers(response)
    session_cookie = cookies[SESSION_COOKIE].lower()
    assert "httponly" in session_cookie and "samesite=lax" in session_cookie and "path=/" in session_cookie
    assert "secure" not in session_cookie  # plain http here; see the https test
    assert f"max-age={web_settings.access_token_minutes * 60}" in session_cookie
    assert "httponly" in cookies[CSRF_COOKIE].lower()
    welcome = web_client.get("/settings")
    assert "Welcome, ada@example.com" in welcome.text
    with session_factory(sqlite_engine)() as session:
        user = session.scalars(select(User)).one()
    assert (user.email, user.is_admin) == ("ada@example.com", True)

    with client_for(web_settings) as stranger:
        closed = stranger.get("/register")
        assert "Registration is closed" in closed.text
        refused = stranger.post(
            "/register",
            data={
                "csrf_token": csrf_of(closed.text),
                "email": "b@example.com",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            },
        )
        assert refused.status_code == 403
    with session_factory(sqlite_engine)() as session:
        assert session.scalar(select(func.count(User.id))) == 1


def test_registration_explains_mismatched_and_short_passwords(web_client: TestClient):
    page = web_client.get("/register")
    token = csrf_of(page.text)
    mismatch = web_client.post(
        "/register",
        data={
            "csrf_token": token,
            "email": "a@example.com",
            "password": PASSWORD,
            "password_confirm": "other one",
        },
    )
    assert mismatch.status_code == 422 and "The two passwords are different" in mismatch.text
    short = web_client.post(
        "/register",
        data={
            "csrf_token": token,
            "email": "a@example.com",
            "password": "short",
            "password_confirm": "short",
        },
    )
    assert short.status_code == 422 and "at least 8 characters" in short.text
    assert 'value="a@example.com"' in short.text  # what was typed is kept (never the password)


def test_the_session_cookie_is_secure_over_https(web_settings):
    with TestClient(create_app(web_settings), base_url="https://testserver") as client:
        page = client.get("/register")
        response = client.post(
            "/register",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "s@example.com",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            },
            follow_redirects=False,
        )
    assert "secure" in _set_cookie_headers(response)[SESSION_COOKIE].lower()


def test_login_answers_a_wrong_password_and_only_follows_same_site_next(web_client: TestClient):
    register(web_client, "me@example.com")
    web_client.cookies.clear()
    page = web_client.get("/login?next=/transactions")
    assert 'name="next" value="/transactions"' in page.text
    wrong = web_client.post(
        "/login", data={"csrf_token": csrf_of(page.text), "email": "me@example.com", "password": "nope nope"}
    )
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    for target, expected in (
        ("/transactions?kind=FEE", "/transactions?kind=FEE"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
    ):
        web_client.cookies.clear()
        page = web_client.get("/login")
        ok = web_client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "me@example.com",
                "password": PASSWORD,
                "next": target,
            },
            follow_redirects=False,
        )
        assert (ok.status_code, ok.headers["location"]) == (303, expected)


def test_logout_ends_the_session_and_a_tampered_cookie_is_no_login(web_client: TestClient):
    register(web_client, "me@example.com")
    settings_page = web_client.get("/settings")
    out = web_client.post("/logout", data={"csrf_token": csrf_of(settings_page.text)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert web_client.get("/", follow_redirects=False).status_code == 303
    web_client.cookies.set(SESSION_COOKIE, "not-a-token")
    assert (
        web_client.get("/settings", follow_redirects=False).headers["location"] == "/login?next=%2Fsettings"
    )


def test_state_changing_forms_need_this_sessions_csrf_token(web_client, web_settings, sqlite_engine):
    register(web_client, "a@example.com")
    a_token = csrf_of(web_client.get("/settings").text)

    missing = web_client.post("/demo", data={})
    assert missing.status_code == 403
    assert "This form is missing its security token." in missing.text and "<html" in missing.text
    forged = web_client.post("/demo", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403 and "This form has expired." in forged.text

    with session_factory(sqlite_engine)() as session:
        create_user(session, "b@example.com", PASSWORD)  # registration is closed now
        session.commit()
    with client_for(web_settings) as other:
        login(other, "b@example.com")
        # A's token (a different nonce and user) does not work in B's session.
        stolen = other.post("/demo", data={"csrf_token": a_token})
        assert stolen.status_code == 403
    with session_factory(sqlite_engine)() as session:
        assert session.scalar(select(func.count(BrokerAccount.id))) == 0

    # The header works as well as the field (the page scripts use it).
    header = web_client.post("/demo", headers={"X-CSRF-Token": a_token}, follow_redirects=False)
    assert header.status_code == 303


def test_pages_carry_a_strict_content_security_policy(browser):
    response = browser.get("/settings")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_static_files_are_served_by_name_only(web_client: TestClient):
    css = web_client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "font-variant-numeric: tabular-nums" in css.text
    js = web_client.get("/static/app.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert web_client.get("/static/..%2Fpages.py").status_code == 404
    assert web_client.get("/static/pages.py").status_code == 404
