import logging
import time

from tests.support.api import register_and_login

SECRET = "tb-secret-key-DO-NOT-LEAK-0123456789"


def _add(client, user, **extra):
    body = {"broker": "testbroker", "alias": "Main", "credentials": {"api_key": SECRET, "accounts": "TB001"}}
    body.update(extra)
    return client.post("/api/v1/accounts", json=body, headers=user.headers)


def _wait_sync(client, user, account_id, sync_id, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/accounts/{account_id}/syncs/{sync_id}", headers=user.headers)
        if r.json()["status"] not in ("QUEUED", "RUNNING"):
            return r.json()
        time.sleep(0.05)
    raise AssertionError("sync did not finish")


def test_register_login_and_me(client):
    alice = register_and_login(client, "alice@example.com")
    me = client.get("/api/v1/auth/me", headers=alice.headers)
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"
    assert client.get("/api/v1/auth/me").status_code == 401
    bad = client.post(
        "/api/v1/auth/login", data={"username": "alice@example.com", "password": "wrong password"}
    )
    assert bad.status_code == 401 and bad.json()["message"] == "Wrong email or password."
    dup = client.post(
        "/api/v1/auth/register", json={"email": "ALICE@example.com", "password": "another one!"}
    )
    assert dup.status_code == 409


def test_add_list_get_account_never_echoes_credentials(client):
    alice = register_and_login(client, "alice@example.com")
    created = _add(client, alice)
    assert created.status_code == 201, created.text
    assert SECRET not in created.text
    body = created.json()
    assert (
        body["has_credentials"] is True and body["sync_status"] == "NEVER" and body["needs_reauth"] is False
    )
    listed = client.get("/api/v1/accounts", headers=alice.headers)
    assert [a["alias"] for a in listed.json()] == ["Main"] and SECRET not in listed.text
    unknown = _add(client, alice, credentials={"api_key": "x", "password": "y"})
    assert unknown.status_code == 422 and "password" in unknown.json()["message"]


def test_sync_through_the_api_fills_the_ledger_and_history(client):
    alice = register_and_login(client, "alice@example.com")
    account_id = _add(client, alice, credentials={"api_key": SECRET, "accounts": "TB001,TB002"}).json()["id"]
    queued = client.post(f"/api/v1/accounts/{account_id}/sync", headers=alice.headers)
    assert queued.status_code == 202
    result = _wait_sync(client, alice, account_id, queued.json()["sync_id"])
    assert result["status"] == "SUCCESS", result
    assert result["counts"]["trades"] == {"inserted": 1, "updated": 0, "unchanged": 0}
    accounts = client.get("/api/v1/accounts", headers=alice.headers).json()
    # The second account behind the same credential was discovered and added.
    assert sorted(a["external_account_id"] for a in accounts) == ["TB001", "TB002"]
    assert all(a["has_credentials"] for a in accounts)
    main = next(a for a in accounts if a["id"] == account_id)
    assert main["sync_status"] == "SUCCESS" and main["last_successful_sync"] is not None
    trades = client.get("/api/v1/ledger/trades", headers=alice.headers).json()
    assert trades["total"] == 2
    one = client.get(f"/api/v1/ledger/trades?account_id={account_id}", headers=alice.headers).json()
    assert one["total"] == 1 and one["items"][0]["price"] == "150.25" and one["items"][0]["symbol"] == "AAPL"
    cash = client.get(
        "/api/v1/ledger/cash?kind=dividend&start=2025-02-01&end=2025-02-28", headers=alice.headers
    ).json()
    assert cash["total"] == 2 and {c["amount"] for c in cash["items"]} == {"2.4"}
    none = client.get("/api/v1/ledger/cash?start=2025-03-01", headers=alice.headers).json()
    assert none["total"] == 0
    holdings = client.get("/api/v1/portfolio/positions", headers=alice.headers).json()
    assert [(h["symbol"], h["quantity"], h["market_value"], h["accounts"]) for h in holdings["holdings"]] == [
        ("AAPL", "20", "3200", 2)
    ]
    # Re-sync: nothing new is written.
    again = client.post(f"/api/v1/accounts/{account_id}/sync", headers=alice.headers).json()
    second = _wait_sync(client, alice, account_id, again["sync_id"])
    assert second["counts"]["trades"] == {"inserted": 0, "updated": 0, "unchanged": 1}
    history = client.get(f"/api/v1/accounts/{account_id}/syncs", headers=alice.headers).json()
    assert [h["status"] for h in history] == ["SUCCESS", "SUCCESS"]


def test_broker_auth_error_marks_the_account_needing_reauth(client):
    alice = register_and_login(client, "alice@example.com")
    account_id = _add(client, alice, credentials={"api_key": SECRET, "mode": "auth"}).json()["id"]
    sync_id = client.post(f"/api/v1/accounts/{account_id}/sync", headers=alice.headers).json()["sync_id"]
    result = _wait_sync(client, alice, account_id, sync_id)
    assert result["status"] == "FAILED"
    assert result["error_class"] == "BrokerAuthError"
    assert "refused the API key" in result["error_message"] and "Create a new key" in result["error_message"]
    account = client.get(f"/api/v1/accounts/{account_id}", headers=alice.headers).json()
    assert account["needs_reauth"] is True and account["status"] == "NEEDS_REAUTH"
    assert account["warning"].startswith("Re-link needed")


def test_tenant_isolation_every_route_404s_on_another_users_data(client):
    alice = register_and_login(client, "alice@example.com")
    bob = register_and_login(client, "bob@example.com")
    account_id = _add(client, alice).json()["id"]
    sync_id = client.post(f"/api/v1/accounts/{account_id}/sync", headers=alice.headers).json()["sync_id"]
    _wait_sync(client, alice, account_id, sync_id)
    probes = [
        ("get", f"/api/v1/accounts/{account_id}"),
        ("delete", f"/api/v1/accounts/{account_id}"),
        ("post", f"/api/v1/accounts/{account_id}/sync"),
        ("get", f"/api/v1/accounts/{account_id}/syncs"),
        ("get", f"/api/v1/accounts/{account_id}/syncs/{sync_id}"),
        ("get", f"/api/v1/ledger/trades?account_id={account_id}"),
        ("get", f"/api/v1/ledger/positions?account_id={account_id}"),
        ("get", f"/api/v1/portfolio/positions?account_id={account_id}"),
    ]
    for method, url in probes:
        response = getattr(client, method)(url, headers=bob.headers)
        assert response.status_code == 404, (method, url, response.status_code)
    upload = client.post(
        f"/api/v1/accounts/{account_id}/import", headers=bob.headers, files={"files": ("x.csv", b"a,b\n")}
    )
    assert upload.status_code == 404
    assert client.get("/api/v1/accounts", headers=bob.headers).json() == []
    assert client.get("/api/v1/ledger/trades", headers=bob.headers).json()["total"] == 0
    assert client.get("/api/v1/portfolio/positions", headers=bob.headers).json()["holdings"] == []
    # Alice's account is untouched by Bob's attempts.
    assert client.get(f"/api/v1/accounts/{account_id}", headers=alice.headers).status_code == 200


def test_no_secret_in_responses_or_logs_of_a_full_sync(client, caplog):
    caplog.set_level(logging.DEBUG)
    alice = register_and_login(client, "alice@example.com", password="alice-password-secret-42")
    bodies = [_add(client, alice).text]
    account_id = client.get("/api/v1/accounts", headers=alice.headers).json()[0]["id"]
    queued = client.post(f"/api/v1/accounts/{account_id}/sync", headers=alice.headers)
    bodies.append(queued.text)
    bodies.append(str(_wait_sync(client, alice, account_id, queued.json()["sync_id"])))
    bodies.append(client.get(f"/api/v1/accounts/{account_id}/syncs", headers=alice.headers).text)
    bodies.append(client.get("/api/v1/accounts", headers=alice.headers).text)
    logs = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    for secret in (SECRET, "alice-password-secret-42", alice.token):
        assert all(secret not in b for b in bodies)
        assert secret not in logs


def test_delete_keeps_or_removes_the_ledger_as_asked(client):
    alice = register_and_login(client, "alice@example.com")
    account_id = _add(client, alice).json()["id"]
    _wait_sync(
        client,
        alice,
        account_id,
        client.post(f"/api/v1/accounts/{account_id}/sync", headers=alice.headers).json()["sync_id"],
    )
    kept = client.delete(f"/api/v1/accounts/{account_id}?keep_ledger=true", headers=alice.headers).json()
    assert kept == {
        "deleted": False,
        "ledger_rows_deleted": False,
        "message": "Credentials erased and account disabled; its ledger rows were kept.",
    }
    account = client.get(f"/api/v1/accounts/{account_id}", headers=alice.headers).json()
    assert account["status"] == "DISABLED" and account["has_credentials"] is False
    assert client.get("/api/v1/ledger/trades", headers=alice.headers).json()["total"] == 1
    gone = client.delete(f"/api/v1/accounts/{account_id}", headers=alice.headers).json()
    assert gone["ledger_rows_deleted"] is True
    assert client.get("/api/v1/ledger/trades", headers=alice.headers).json()["total"] == 0


def test_aggregator_lists_brokers_from_the_registry(client):
    for method in ("get", "post"):
        brokers = getattr(client, method)("/api/v1/aggregator/brokers").json()
        test = next(b for b in brokers if b["broker"] == "testbroker")
        assert test["display_name"] == "Test Broker"
        assert [f["name"] for f in test["credential_fields"]] == ["api_key", "mode", "accounts", "gate"]
        assert test["capabilities"] == ["sync"]


def test_registration_is_closed_after_the_first_user_unless_opened(engine):
    from tests.support.api import client_for, make_settings

    settings = make_settings(engine.url.render_as_string(hide_password=False), open_registration=False)
    with client_for(settings) as closed:
        first = closed.post(
            "/api/v1/auth/register", json={"email": "owner@example.com", "password": "owner-pass-1"}
        )
        assert first.status_code == 201 and first.json()["is_admin"] is True
        second = closed.post(
            "/api/v1/auth/register", json={"email": "eve@example.com", "password": "eve-pass-123"}
        )
        assert second.status_code == 403 and "foliosync users create" in second.json()["hint"]
