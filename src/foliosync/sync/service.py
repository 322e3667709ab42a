"""BrokerSyncService: request, claim, run and finish one account's sync.

Guarantees:
- At most one active (QUEUED or RUNNING) sync per account across processes: a partial unique
  index on account_syncs makes the second INSERT fail, and the caller gets the running one.
- The whole result of a fetch is written in ONE transaction with the AccountSync row's final
  status, so a worker killed mid-sync leaves the ledger exactly as it was. Its RUNNING row stops
  heart-beating and is reaped as FAILED; the next sync fetches the same window again and
  completes the work (every write is an idempotent upsert).
- Never a silent success: a missing section or a failed reconciliation makes the sync PARTIAL;
  broker auth errors mark the account needs-reauth; every failure keeps its class and message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from foliosync.brokers.base import AccountContext, BrokerAuthError, BrokerError, Capability, FetchResult
from foliosync.brokers.registry import get_broker
from foliosync.config import Settings
from foliosync.db.session import session_factory, session_scope
from foliosync.errors import FoliosyncError, ValidationFailed
from foliosync.ledger.reconcile import reconcile_account
from foliosync.ledger.taxonomy import AccountStatus, SyncStatus
from foliosync.ledger.writer import store_raw_payload, write_batch
from foliosync.models import AccountSync, BrokerAccount
from foliosync.sync.lots import refresh_computed_lots
from foliosync.vault import CredentialVault, vault_from_settings
from foliosync.vault.store import open_credentials, save_credentials

log = logging.getLogger(__name__)

ACTIVE = (SyncStatus.QUEUED.value, SyncStatus.RUNNING.value)
HEARTBEAT_SECONDS = 10.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class SyncNotPossible(ValidationFailed):
    """The account cannot be synced (import-only broker, no credentials, needs re-auth)."""


def active_sync(session: Session, account_id: int) -> AccountSync | None:
    return session.scalar(
        select(AccountSync).where(AccountSync.account_id == account_id, AccountSync.status.in_(ACTIVE))
    )


def reap_stale_syncs(session: Session, stale_after: timedelta, *, account_id: int | None = None) -> int:
    """Mark RUNNING syncs whose worker stopped heart-beating (and ancient QUEUED ones) FAILED."""
    cutoff = utcnow() - stale_after
    query = select(AccountSync).where(AccountSync.status.in_(ACTIVE))
    if account_id is not None:
        query = query.where(AccountSync.account_id == account_id)
    reaped = 0
    for sync in session.scalars(query):
        last_sign_of_life = sync.heartbeat_at or sync.started_at or sync.queued_at
        if last_sign_of_life is not None and last_sign_of_life >= cutoff:
            continue
        now = utcnow()
        sync.status = SyncStatus.FAILED.value
        sync.finished_at = now
        sync.error_class = "WorkerLost"
        sync.error_message = (
            "The worker running this sync stopped before it finished; nothing from it was written. "
            "The next sync fetches the same period again."
        )
        account = session.get(BrokerAccount, sync.account_id)
        if account is not None:
            account.sync_status = SyncStatus.FAILED.value
        reaped += 1
    session.flush()
    return reaped


def request_sync(
    session: Session, settings: Settings, account: BrokerAccount, *, trigger: str = "manual"
) -> tuple[AccountSync, bool]:
    """Queue a sync for `account`, or return the one already active. Returns (sync, created).

    Commits, so that the job is dispatched only after the request is durable.
    """
    registered = get_broker(account.broker)
    if registered.factory is None or Capability.SYNC not in registered.manifest.capabilities:
        raise SyncNotPossible(
            f"{registered.manifest.display_name} accounts are updated by importing files.",
            hint="Upload an export on the account's page or run `foliosync import`.",
        )
    reap_stale_syncs(session, timedelta(minutes=settings.sync_stale_after_minutes), account_id=account.id)
    session.commit()
    existing = active_sync(session, account.id)
    if existing is not None:
        return existing, False
    sync = AccountSync(
        account_id=account.id, status=SyncStatus.QUEUED.value, trigger=trigger, queued_at=utcnow()
    )
    session.add(sync)
    try:
        session.flush()
    except IntegrityError:
        # Another process queued one between our check and insert: theirs wins.
        session.rollback()
        existing = active_sync(session, account.id)
        if existing is None:
            raise
        return existing, False
    account.sync_status = SyncStatus.QUEUED.value
    session.commit()
    return sync, True


@dataclass
class SyncOutcome:
    sync_id: int
    status: str
    transient_error: bool = False
    retry_after: float | None = None


class _Heartbeat:
    """Touches the sync row from a side thread while the fetch runs."""

    def __init__(self, engine: Engine, sync_id: int, interval: float) -> None:
        self._engine = engine
        self._sync_id = sync_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sync-heartbeat-{sync_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with session_scope(self._engine) as session:
                    session.execute(
                        update(AccountSync)
                        .where(
                            AccountSync.id == self._sync_id, AccountSync.status == SyncStatus.RUNNING.value
                        )
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:
                log.warning("heartbeat for sync %s failed", self._sync_id, exc_info=True)


def _claim(engine: Engine, sync_id: int) -> bool:
    """QUEUED -> RUNNING, atomically: a redelivered task finds it already claimed and stops."""
    with session_scope(engine) as session:
        now = utcnow()
        result = session.execute(
            update(AccountSync)
            .where(AccountSync.id == sync_id, AccountSync.status == SyncStatus.QUEUED.value)
            .values(status=SyncStatus.RUNNING.value, started_at=now, heartbeat_at=now)
        )
        claimed = (result.rowcount or 0) == 1  # type: ignore[attr-defined]
        if claimed:
            sync = session.get(AccountSync, sync_id)
            assert sync is not None
            account = session.get(BrokerAccount, sync.account_id)
            if account is not None:
                account.sync_status = SyncStatus.RUNNING.value
        return claimed


def _finish_failed(engine: Engine, sync_id: int, exc: BaseException, *, needs_reauth: bool) -> None:
    with session_scope(engine) as session:
        sync = session.get(AccountSync, sync_id)
        if sync is None:
            return
        now = utcnow()
        sync.status = SyncStatus.FAILED.value
        sync.finished_at = now
        sync.duration_ms = int((now - (sync.started_at or now)).total_seconds() * 1000)
        sync.error_class = type(exc).__name__
        sync.error_message = str(exc) if isinstance(exc, FoliosyncError) else "Unexpected error during sync."
        account = session.get(BrokerAccount, sync.account_id)
        if account is not None:
            account.sync_status = SyncStatus.FAILED.value
            account.last_sync_at = now
            if needs_reauth:
                account.needs_reauth = True
                account.status = AccountStatus.NEEDS_REAUTH.value
                account.reauth_reason = str(exc)


def requeue_for_retry(engine: Engine, sync_id: int, exc: BaseException) -> None:
    """A transient broker error: put the same sync back in the queue, keeping the reason."""
    with session_scope(engine) as session:
        sync = session.get(AccountSync, sync_id)
        if sync is None:
            return
        sync.status = SyncStatus.QUEUED.value
        sync.error_class = type(exc).__name__
        sync.error_message = f"{exc} (retrying)"
        sync.heartbeat_at = utcnow()


def run_sync(engine: Engine, settings: Settings, sync_id: int, *, final_attempt: bool = True) -> SyncOutcome:
    """Run a queued sync end to end. Safe to call twice for one id (the second call does nothing)."""
    if not _claim(engine, sync_id):
        with session_scope(engine) as session:
            sync = session.get(AccountSync, sync_id)
            return SyncOutcome(sync_id, sync.status if sync else "MISSING")
    vault = vault_from_settings(settings)
    with session_scope(engine) as session:
        sync = session.get(AccountSync, sync_id)
        assert sync is not None
        account = session.get(BrokerAccount, sync.account_id)
        assert account is not None
        context = AccountContext(
            account_id=account.id,
            external_account_id=account.external_account_id,
            cursor=dict(account.sync_cursor or {}),
            details=dict(account.details or {}),
        )
        broker = account.broker
        user_id = account.user_id
        since = account.last_successful_sync
        credentials = open_credentials(session, vault, account.id)
    try:
        if credentials is None:
            raise SyncNotPossible(
                "This account has no stored credentials.",
                hint="Add them on the settings page or re-link the account.",
            )
        factory = get_broker(broker).factory
        assert factory is not None  # request_sync refuses brokers without one
        adapter = factory(settings)
        with _Heartbeat(engine, sync_id, HEARTBEAT_SECONDS):
            result = adapter.fetch(credentials, context, since)
        del credentials
        status = _write_result(engine, settings, sync_id, user_id, result)
        return SyncOutcome(sync_id, status)
    except BrokerError as exc:
        log.warning("sync %s failed: %s", sync_id, type(exc).__name__)
        if exc.transient and not final_attempt:
            requeue_for_retry(engine, sync_id, exc)
            return SyncOutcome(
                sync_id,
                SyncStatus.QUEUED.value,
                transient_error=True,
                retry_after=getattr(exc, "retry_after", None),
            )
        _finish_failed(engine, sync_id, exc, needs_reauth=isinstance(exc, BrokerAuthError))
        return SyncOutcome(sync_id, SyncStatus.FAILED.value)
    except Exception as exc:
        log.exception("sync %s failed unexpectedly", sync_id)
        _finish_failed(engine, sync_id, exc, needs_reauth=False)
        return SyncOutcome(sync_id, SyncStatus.FAILED.value)


def _write_result(engine: Engine, settings: Settings, sync_id: int, user_id: int, result: FetchResult) -> str:
    """One transaction: ledger rows, discovered sibling accounts, credentials, cursor, sync row."""
    batch = result.batch
    vault = vault_from_settings(settings)
    session = session_factory(engine)()
    try:
        sync = session.get(AccountSync, sync_id)
        assert sync is not None
        account = session.get(BrokerAccount, sync.account_id)
        assert account is not None
        accounts = _map_accounts(session, account, batch.account_numbers(), vault, result, user_id)
        account_ids = {number: acct.id for number, acct in accounts.items()}
        for ref in batch.raw_payloads:
            store_raw_payload(
                session,
                user_id,
                account.broker,
                ref,
                account_ids.get(ref.account) if ref.account else account.id,
            )
        now = utcnow()
        status = SyncStatus.SUCCESS
        # Each account found in the batch gets its own counts; siblings get their own sync rows.
        for number, target in accounts.items():
            part = batch.for_account(number)
            report = write_batch(session, part, account_ids, user_id=user_id, archive=False)
            counts = report.as_dict()
            lots = refresh_computed_lots(session, target, batch.source.value)
            if lots is not None:
                counts["computed_lots"] = lots
            reconciliation = reconcile_account(session, target.id, number, part, account_ids)
            notes = list(batch.warnings)
            notes += [f"section missing or empty: {name}" for name in sorted(batch.missing_sections)]
            if reconciliation.checked and not reconciliation.ok:
                notes.append(f"reconciliation found {len(reconciliation.differences)} differences")
            partial = bool(batch.missing_sections) or (reconciliation.checked and not reconciliation.ok)
            part_status = SyncStatus.PARTIAL if partial else SyncStatus.SUCCESS
            row = (
                sync
                if target.id == account.id
                else AccountSync(
                    account_id=target.id,
                    trigger="discovered",
                    queued_at=sync.queued_at,
                    started_at=sync.started_at,
                )
            )
            if row is not sync:
                session.add(row)
            row.status = part_status.value
            row.finished_at = now
            row.duration_ms = int((now - (sync.started_at or now)).total_seconds() * 1000)
            row.counts = counts
            row.reconciliation = reconciliation.as_dict()
            row.warnings = notes
            row.error_class = None
            row.error_message = None
            target.sync_status = part_status.value
            target.last_sync_at = now
            if part_status is SyncStatus.SUCCESS:
                target.last_successful_sync = now
            if target.id == account.id:
                status = part_status
        if result.updated_credentials:
            save_credentials(session, vault, account.id, result.updated_credentials)
        if result.next_cursor is not None:
            account.sync_cursor = dict(result.next_cursor)
        if account.id not in {a.id for a in accounts.values()}:
            # Nothing in the batch named this account: never a silent success.
            status = SyncStatus.PARTIAL
            sync.status = status.value
            sync.finished_at = now
            sync.counts = {}
            sync.warnings = ["the broker returned no data for this account"]
            account.sync_status = status.value
            account.last_sync_at = now
        account.needs_reauth = False
        if account.status in (AccountStatus.PENDING.value, AccountStatus.NEEDS_REAUTH.value):
            account.status = AccountStatus.CONNECTED.value
        session.commit()
        return status.value
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _map_accounts(
    session: Session,
    account: BrokerAccount,
    numbers: list[str],
    vault: CredentialVault,
    result: FetchResult,
    user_id: int,
) -> dict[str, BrokerAccount]:
    """The synced account takes its own number; every other account found behind the same
    credential (all FlexStatements of a query, all accounts of a login) is added for the user."""
    mapping: dict[str, BrokerAccount] = {}
    if account.external_account_id is None and numbers:
        account.external_account_id = numbers[0]
    for number in numbers:
        if number == account.external_account_id:
            mapping[number] = account
            continue
        sibling = session.scalar(
            select(BrokerAccount).where(
                BrokerAccount.user_id == user_id,
                BrokerAccount.broker == account.broker,
                BrokerAccount.external_account_id == number,
            )
        )
        if sibling is None:
            sibling = BrokerAccount(
                user_id=user_id,
                broker=account.broker,
                external_account_id=number,
                alias=f"{account.broker.upper()} {number[-4:]}",
                base_currency=account.base_currency,
                status=AccountStatus.CONNECTED.value,
                sync_interval_minutes=account.sync_interval_minutes,
            )
            session.add(sibling)
            session.flush()
            creds = result.updated_credentials or open_credentials(session, vault, account.id)
            if creds:
                save_credentials(session, vault, sibling.id, creds)
        mapping[number] = sibling
    return mapping


def due_accounts(session: Session, settings: Settings, now: datetime | None = None) -> list[BrokerAccount]:
    """Accounts whose interval has passed, that can sync and are not waiting for re-auth."""
    now = now or utcnow()
    due: list[BrokerAccount] = []
    for account in session.scalars(
        select(BrokerAccount).where(
            BrokerAccount.needs_reauth.is_(False), BrokerAccount.status != AccountStatus.DISABLED.value
        )
    ):
        try:
            registered = get_broker(account.broker)
        except FoliosyncError:
            continue
        if registered.factory is None or Capability.SYNC not in registered.manifest.capabilities:
            continue
        interval = timedelta(minutes=account.sync_interval_minutes or settings.sync_interval_minutes)
        if account.last_sync_at is None or account.last_sync_at + interval <= now:
            due.append(account)
    return due


def wait_for(engine: Engine, sync_id: int, timeout: float = 30.0) -> AccountSync:
    """Poll until a sync leaves QUEUED/RUNNING (for the CLI and tests)."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(engine) as session:
            sync = session.get(AccountSync, sync_id)
            assert sync is not None
            if sync.status not in ACTIVE or time.monotonic() > deadline:
                session.expunge(sync)
                return sync
        time.sleep(0.1)
