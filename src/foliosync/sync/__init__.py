"""Sync orchestration: BrokerSyncService, AccountSync bookkeeping, locking, Celery tasks."""
