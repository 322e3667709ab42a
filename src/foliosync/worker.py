"""Celery app: sync tasks on workers (`foliosync worker`) and the schedule (`foliosync beat`).

Only used when REDIS_URL is set. Tasks are idempotent (a sync id is claimed QUEUED -> RUNNING
atomically), `acks_late` with `reject_on_worker_lost` so a killed worker's task is redelivered,
and retried with backoff only for transient broker errors.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from celery import Celery

from foliosync.config import get_settings
from foliosync.db.session import engine_for
from foliosync.sync.runner import MAX_ATTEMPTS, backoff_seconds, queue_due_syncs
from foliosync.sync.service import run_sync

log = logging.getLogger(__name__)


def make_celery(broker_url: str | None) -> Celery:
    app = Celery("foliosync", broker=broker_url or "memory://")
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        beat_schedule={
            "queue-due-syncs": {"task": "foliosync.queue_due_syncs", "schedule": 60.0},
            "refresh-market-data": {"task": "foliosync.refresh_market_data", "schedule": 6 * 3600.0},
        },
    )
    return app


celery_app = make_celery(get_settings().redis_url)


@functools.lru_cache(maxsize=4)
def producer_for(redis_url: str) -> Celery:
    """A Celery app that only sends tasks, bound to the given broker (the web app's REDIS_URL)."""
    return make_celery(redis_url)


@celery_app.task(name="foliosync.sync_account", bind=True, max_retries=MAX_ATTEMPTS - 1)
def sync_account(self: Any, sync_id: int) -> str:
    settings = get_settings()
    engine = engine_for(settings.database_url)
    final = self.request.retries >= MAX_ATTEMPTS - 1
    outcome = run_sync(engine, settings, sync_id, final_attempt=final)
    if outcome.transient_error:
        raise self.retry(countdown=backoff_seconds(self.request.retries, outcome.retry_after))
    return outcome.status


@celery_app.task(name="foliosync.queue_due_syncs")
def queue_due_syncs_task() -> int:
    settings = get_settings()
    engine = engine_for(settings.database_url)
    ids = queue_due_syncs(engine, settings)
    for sync_id in ids:
        celery_app.send_task("foliosync.sync_account", args=[sync_id])
    return len(ids)


@celery_app.task(name="foliosync.refresh_market_data")
def refresh_market_data_task() -> str:
    """Refresh index constituents and daily prices (see foliosync.market)."""
    try:
        from foliosync.market.tasks import refresh_all
    except ModuleNotFoundError:
        return "market data module not installed"
    settings = get_settings()
    return str(refresh_all(engine_for(settings.database_url), settings))
