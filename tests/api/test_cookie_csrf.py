from tests.support.api import register_and_login


def test_cookie_authenticated_api_writes_need_the_csrf_header(client):
    alice = register_and_login(client, "alice@example.com")
    client.cookies.set("foliosync_session", alice.token)
    # Reads work with the cookie alone.
    assert client.get("/api/v1/accounts").status_code == 200
    # A write with the cookie but no token is refused, and nothing is created.
    body = {"broker": "testbroker", "alias": "x", "credentials": {"api_key": "k"}}
    refused = client.post("/api/v1/accounts", json=body)
    assert refused.status_code == 403 and "security token" in refused.json()["message"]
    assert client.get("/api/v1/accounts").json() == []
    # A bearer token needs no CSRF token.
    client.cookies.clear()
    assert client.post("/api/v1/accounts", json=body, headers=alice.headers).status_code == 201
