"""Where sync jobs run: Celery workers when REDIS_URL is set, else a small thread pool and a
scheduler thread inside `foliosync serve` (the embedded default needs nothing installed)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from foliosync.accounts.service import flag_expired_links
from foliosync.config import Settings
from foliosync.db.session import session_scope
from foliosync.sync.service import SyncOutcome, due_accounts, reap_stale_syncs, request_sync, run_sync

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """30 s, 60 s, 120 s ... capped at 15 minutes; a broker's Retry-After wins when longer."""
    delay = min(30.0 * (2**attempt), 900.0)
    return float(max(delay, retry_after or 0.0))


class InProcessRunner:
    """Runs syncs on a thread pool and queues due accounts every minute."""

    def __init__(
        self, engine: Engine, settings: Settings, *, tick_seconds: float = 60.0, sleep: Any = time.sleep
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.tick_seconds = tick_seconds
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="foliosync-sync")
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None

    def dispatch(self, sync_id: int) -> None:
        self._pool.submit(self._run_with_retries, sync_id)

    def _run_with_retries(self, sync_id: int) -> SyncOutcome:
        outcome = SyncOutcome(sync_id, "QUEUED")
        for attempt in range(MAX_ATTEMPTS):
            outcome = run_sync(self.engine, self.settings, sync_id, final_attempt=attempt == MAX_ATTEMPTS - 1)
            if not outcome.transient_error or self._stop.is_set():
                break
            if self._stop.wait(backoff_seconds(attempt, outcome.retry_after)):
                break
        return outcome

    def start(self) -> None:
        self._scheduler = threading.Thread(
            target=self._schedule_loop, name="foliosync-scheduler", daemon=True
        )
        self._scheduler.start()

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _schedule_loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                for sync_id in queue_due_syncs(self.engine, self.settings):
                    self.dispatch(sync_id)
            except Exception:
                log.exception("scheduling due syncs failed")


def queue_due_syncs(engine: Engine, settings: Settings) -> list[int]:
    """Reap dead syncs, then queue every due account; returns the ids of newly queued syncs."""
    queued: list[int] = []
    with session_scope(engine) as session:
        reap_stale_syncs(session, timedelta(minutes=settings.sync_stale_after_minutes))
        flag_expired_links(session)
    with session_scope(engine) as session:
        for account in due_accounts(session, settings):
            sync, created = request_sync(session, settings, account, trigger="schedule")
            if created:
                queued.append(sync.id)
    return queued


def dispatch(state: Any, sync_id: int) -> None:
    """Hand a committed, QUEUED sync to whatever runs jobs in this deployment."""
    settings: Settings = state.settings
    if settings.uses_redis:
        from foliosync.worker import producer_for

        assert settings.redis_url is not None
        producer_for(settings.redis_url).send_task("foliosync.sync_account", args=[sync_id])
        return
    runner: InProcessRunner | None = getattr(state, "runner", None)
    if runner is None:
        runner = InProcessRunner(state.engine, settings)
        state.runner = runner
    runner.dispatch(sync_id)


def start_background(app: Any) -> None:
    settings: Settings = app.state.settings
    if settings.uses_redis:
        return  # `foliosync worker` and `foliosync beat` do the work
    runner = InProcessRunner(app.state.engine, settings)
    runner.start()
    app.state.runner = runner


def stop_background(app: Any) -> None:
    runner: InProcessRunner | None = getattr(app.state, "runner", None)
    if runner is not None:
        runner.stop()
