import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

import tests.support.fake_broker  # noqa: F401
from foliosync.db.session import session_factory, session_scope
from foliosync.models import AccountSync, BrokerAccount, Trade, User
from foliosync.sync.service import reap_stale_syncs, request_sync, run_sync
from foliosync.vault import vault_from_settings
from foliosync.vault.store import save_credentials
from tests.support.api import make_settings

ROOT = Path(__file__).resolve().parents[2]


def _setup(engine, credentials):
    settings = make_settings(engine.url.render_as_string(hide_password=False))
    with session_scope(engine) as session:
        user = User(email="s@example.com", password_hash="x")
        session.add(user)
        session.flush()
        account = BrokerAccount(user_id=user.id, broker="testbroker", alias="t")
        session.add(account)
        session.flush()
        save_credentials(session, vault_from_settings(settings), account.id, credentials)
        account_id = account.id
    return settings, account_id


def test_two_concurrent_requests_run_one_sync(pg_engine):
    settings, account_id = _setup(pg_engine, {"api_key": "k"})
    barrier = threading.Barrier(4)
    results = []

    def request():
        session = session_factory(pg_engine)()
        account = session.get(BrokerAccount, account_id)
        barrier.wait()
        sync, created = request_sync(session, settings, account)
        results.append((sync.id, created))
        session.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({sync_id for sync_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with session_scope(pg_engine) as session:
        assert session.scalar(select(func.count(AccountSync.id))) == 1
    # Running it twice (a redelivered task) runs it once.
    sync_id = results[0][0]
    assert run_sync(pg_engine, settings, sync_id).status == "SUCCESS"
    assert run_sync(pg_engine, settings, sync_id).status == "SUCCESS"
    with session_scope(pg_engine) as session:
        assert session.scalar(select(func.count(Trade.id))) == 1


WORKER = """
import sys
from foliosync.db.session import build_engine
from tests.support.api import make_settings
import tests.support.fake_broker
from foliosync.sync.service import run_sync
url = sys.argv[1]
run_sync(build_engine(url), make_settings(url), int(sys.argv[2]))
"""


def test_a_worker_killed_mid_sync_leaves_the_ledger_as_it_was_and_the_next_sync_completes(engine, tmp_path):
    gate = tmp_path / "gate"
    settings, account_id = _setup(engine, {"api_key": "k", "mode": "slow", "gate": str(gate)})
    with session_scope(engine) as session:
        sync, _ = request_sync(session, settings, session.get(BrokerAccount, account_id))
        sync_id = sync.id
    url = engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(sync_id)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 30
    while not Path(str(gate) + ".started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "worker never started the fetch"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with session_scope(engine) as session:
        assert session.get(AccountSync, sync_id).status == "RUNNING"
        assert session.scalar(select(func.count(Trade.id))) == 0  # the ledger is as it was
        # A live sync is not reaped; a silent one is.
        assert reap_stale_syncs(session, timedelta(minutes=5)) == 0
    with session_scope(engine) as session:
        assert reap_stale_syncs(session, timedelta(seconds=0)) == 1
    with session_scope(engine) as session:
        dead = session.get(AccountSync, sync_id)
        assert dead.status == "FAILED" and dead.error_class == "WorkerLost"
        assert "next sync" in dead.error_message
        save_credentials(session, vault_from_settings(settings), account_id, {"api_key": "k"})
    with session_scope(engine) as session:
        retry, created = request_sync(session, settings, session.get(BrokerAccount, account_id))
        assert created
        retry_id = retry.id
    assert run_sync(engine, settings, retry_id).status == "SUCCESS"
    with session_scope(engine) as session:
        assert session.scalar(select(func.count(Trade.id))) == 1
        assert session.get(BrokerAccount, account_id).sync_status == "SUCCESS"


def test_transient_errors_are_requeued_until_the_last_attempt(engine):
    settings, account_id = _setup(engine, {"api_key": "k", "mode": "transient"})
    with session_scope(engine) as session:
        sync, _ = request_sync(session, settings, session.get(BrokerAccount, account_id))
    outcome = run_sync(engine, settings, sync.id, final_attempt=False)
    assert outcome.transient_error and outcome.status == "QUEUED"
    with session_scope(engine) as session:
        row = session.get(AccountSync, sync.id)
        assert row.status == "QUEUED" and "retrying" in row.error_message
    final = run_sync(engine, settings, sync.id, final_attempt=True)
    assert final.status == "FAILED"
    with session_scope(engine) as session:
        account = session.get(BrokerAccount, account_id)
        assert account.sync_status == "FAILED" and account.needs_reauth is False


def test_the_scheduler_flags_expired_links_and_skips_them(engine):
    from datetime import UTC, datetime

    from foliosync.sync.runner import queue_due_syncs

    settings, account_id = _setup(engine, {"api_key": "k"})
    with session_scope(engine) as session:
        session.get(BrokerAccount, account_id).reauth_due_at = datetime(2020, 1, 1, tzinfo=UTC)
    assert queue_due_syncs(engine, settings) == []
    with session_scope(engine) as session:
        account = session.get(BrokerAccount, account_id)
        assert account.needs_reauth is True and account.status == "NEEDS_REAUTH"
        assert "re-link" in account.reauth_reason
        account.needs_reauth = False
        account.status = "CONNECTED"
        account.reauth_due_at = None
    # A healthy, never-synced account is due at once.
    assert len(queue_due_syncs(engine, settings)) == 1
