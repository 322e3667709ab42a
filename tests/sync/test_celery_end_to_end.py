"""A real Celery worker process, on the real Redis and PostgreSQL, runs a sync requested through the API."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tests.support.fake_broker  # noqa: F401
from tests.support.api import TEST_FERNET_KEY, client_for, make_settings, register_and_login

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def celery_worker(pg_database_url, pg_engine, redis_url, tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": pg_database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": make_settings("sqlite://").secret_key.get_secret_value(),
        "ENCRYPTION_KEY": TEST_FERNET_KEY,
        "FOLIOSYNC_PLUGINS": "tests.support.fake_broker",
        "ENVIRONMENT": "test",
    }
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "foliosync.worker:celery_app",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.mark.slow
def test_a_sync_requested_through_the_api_finishes_on_a_celery_worker(
    celery_worker, pg_database_url, redis_url
):
    settings = make_settings(pg_database_url, redis_url=redis_url)
    with client_for(settings) as client:
        alice = register_and_login(client, "alice@example.com")
        account = client.post(
            "/api/v1/accounts",
            headers=alice.headers,
            json={
                "broker": "testbroker",
                "alias": "Celery",
                "credentials": {"api_key": "k", "accounts": "TB9"},
            },
        ).json()
        queued = client.post(f"/api/v1/accounts/{account['id']}/sync", headers=alice.headers)
        assert queued.status_code == 202
        sync_id = queued.json()["sync_id"]
        deadline = time.monotonic() + 60
        while True:
            row = client.get(
                f"/api/v1/accounts/{account['id']}/syncs/{sync_id}", headers=alice.headers
            ).json()
            if row["status"] not in ("QUEUED", "RUNNING"):
                break
            assert celery_worker.poll() is None, "the worker died"
            assert time.monotonic() < deadline, f"sync still {row['status']}"
            time.sleep(0.2)
        assert row["status"] == "SUCCESS"
        assert row["counts"]["trades"] == {"inserted": 1, "updated": 0, "unchanged": 0}
        assert client.get("/api/v1/ledger/trades", headers=alice.headers).json()["total"] == 1
        # No in-process runner was used: the app has REDIS_URL, so the job went through Celery.
        assert not hasattr(client.app.state, "runner")
