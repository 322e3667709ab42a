"""The TastyTrade connect flow: check the credentials and add every account behind them.

`start()` records a pending job and runs it in a background thread, so the HTTP request returns at
once and the page polls `status()`. The job logs in (OAuth refresh, brokers.md §A.2), lists the
accounts, and for each one creates a CONNECTED BrokerAccount for the user (or keeps the existing
one) and stores the credentials encrypted, one AccountCredential per account. Every account is
added, not only the first (the earlier implementation missed the user's other accounts,
prior-art-origin §5 item 1).

Job state lives in the key-value store (Redis, or in-process without it) for 600 s. It holds the
job's owner, status, a message the user can act on and the accounts; never the secrets, which
exist only in the running thread and, encrypted, in the database. A job is visible only to the
user who started it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from foliosync.brokers.base import BrokerError, BrokerRateLimited, BrokerUnavailable
from foliosync.brokers.tastytrade.adapter import Login, TastyTradeAdapter
from foliosync.brokers.tastytrade.credentials import CLIENT_SECRET, OAUTH_APPS_PATH, REFRESH_TOKEN
from foliosync.errors import NotFoundError, ValidationFailed
from foliosync.kv import KeyValueStore
from foliosync.ledger.records import AccountInfo
from foliosync.ledger.taxonomy import AccountStatus, Broker
from foliosync.models import BrokerAccount
from foliosync.vault import CredentialVault
from foliosync.vault.store import save_credentials

log = logging.getLogger(__name__)

JOB_TTL_SECONDS = 600
JOB_KEY_PREFIX = "connect_job:tastytrade:"
BROKER = Broker.TASTYTRADE.value


class JobStatus(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    ERROR = "error"


@dataclass
class ConnectedAccount:
    id: int
    external_account_id: str
    alias: str


@dataclass
class ConnectJob:
    job_id: str
    user_id: int
    status: JobStatus = JobStatus.PENDING
    message: str | None = None
    hint: str | None = None
    accounts: list[ConnectedAccount] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None

    def fail(self, message: str, hint: str | None) -> None:
        self.status, self.message, self.hint = JobStatus.ERROR, message, hint

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectJob:
        return cls(
            job_id=str(data["job_id"]),
            user_id=int(data["user_id"]),
            status=JobStatus(data["status"]),
            message=data.get("message"),
            hint=data.get("hint"),
            accounts=[ConnectedAccount(**a) for a in data.get("accounts", [])],
            created_at=str(data.get("created_at", "")),
            finished_at=data.get("finished_at"),
        )


class ConnectJobNotFound(NotFoundError):
    code = "connect_job_not_found"


# Running jobs are referenced here until they finish, so none is garbage collected mid-run and
# tests (or a shutdown) can wait for them.
_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()


def wait_for_jobs(timeout: float = 10.0) -> None:
    """Join the connect threads still running (tests, graceful shutdown)."""
    with _threads_lock:
        running = list(_threads.values())
    for thread in running:
        thread.join(timeout)


class TastyTradeConnectService:
    def __init__(
        self,
        *,
        store: KeyValueStore,
        sessions: sessionmaker[Session],
        vault: CredentialVault,
        adapter_factory: Callable[[], TastyTradeAdapter],
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._vault = vault
        self._adapter_factory = adapter_factory

    def start(self, user_id: int, client_secret: str, refresh_token: str) -> ConnectJob:
        """Record a pending job for `user_id` and run it in a background thread."""
        client_secret, refresh_token = client_secret.strip(), refresh_token.strip()
        missing = [n for n, v in ((CLIENT_SECRET, client_secret), (REFRESH_TOKEN, refresh_token)) if not v]
        if missing:
            raise ValidationFailed(
                f"Enter the TastyTrade {' and '.join(missing)}.", hint=f"Both are under {OAUTH_APPS_PATH}."
            )
        job = ConnectJob(job_id=secrets.token_urlsafe(18), user_id=user_id)
        self._save(job)
        credentials = {CLIENT_SECRET: client_secret, REFRESH_TOKEN: refresh_token}
        # The thread works on its own copy: the caller's job stays the pending one it returned.
        thread = threading.Thread(
            target=self._run_in_thread,
            args=(replace(job), credentials),
            name=f"tastytrade-connect-{job.job_id[:8]}",
            daemon=True,
        )
        with _threads_lock:
            _threads[job.job_id] = thread
        thread.start()
        return job

    def status(self, user_id: int, job_id: str) -> ConnectJob:
        """The job, if `user_id` started it; anyone else gets the same 404 as for an unknown id."""
        data = self._store.get_json(JOB_KEY_PREFIX + job_id)
        job = ConnectJob.from_json(data) if isinstance(data, dict) else None
        if job is None or job.user_id != user_id:
            raise ConnectJobNotFound(
                "No TastyTrade connection job with that id.",
                hint=f"Jobs are kept for {JOB_TTL_SECONDS // 60} minutes; start the connection again.",
            )
        return job

    def run(self, job: ConnectJob, credentials: Mapping[str, str]) -> ConnectJob:
        """The job's work, synchronously: always ends in success or an error the user can act on."""
        try:
            login = self._adapter_factory().login(credentials)
            if not login.accounts:
                job.fail(
                    "This TastyTrade login has no accounts.",
                    "Check that the grant belongs to the right TastyTrade login (sandbox and production "
                    "are separate).",
                )
            else:
                job.accounts = self._save_accounts(job.user_id, login)
                job.status = JobStatus.SUCCESS
                job.message = f"Connected {len(job.accounts)} TastyTrade account(s)."
        except BrokerRateLimited:
            job.fail("TastyTrade is limiting requests right now.", "Wait a few minutes and connect again.")
        except BrokerUnavailable as exc:
            job.fail("TastyTrade could not be reached.", exc.hint)
        except BrokerError as exc:  # bad secret, revoked token, odd payload: its message says what to do
            job.fail(exc.message, exc.hint)
        except Exception:
            log.exception("tastytrade.connect_failed job=%s", job.job_id)
            job.fail(
                "Connecting TastyTrade failed unexpectedly.",
                f"Try again; if it keeps failing, give the administrator the job id {job.job_id}.",
            )
        job.finished_at = datetime.now(UTC).isoformat()
        self._save(job)
        log.info("tastytrade.connect_finished job=%s status=%s", job.job_id, job.status.value)
        return job

    def _run_in_thread(self, job: ConnectJob, credentials: dict[str, str]) -> None:
        try:
            self.run(job, credentials)
        finally:
            credentials.clear()
            with _threads_lock:
                _threads.pop(job.job_id, None)

    def _save(self, job: ConnectJob) -> None:
        self._store.set_json(JOB_KEY_PREFIX + job.job_id, job.to_json(), JOB_TTL_SECONDS)

    def _save_accounts(self, user_id: int, login: Login) -> list[ConnectedAccount]:
        # Two jobs of one user racing to insert the same account: the loser retries and updates.
        for attempt in (1, 2):
            with self._sessions() as session:
                try:
                    connected = [
                        _upsert_account(session, self._vault, user_id, info, login.credentials)
                        for info in login.accounts
                    ]
                    session.commit()
                    return connected
                except IntegrityError:
                    session.rollback()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")


def _upsert_account(
    session: Session, vault: CredentialVault, user_id: int, info: AccountInfo, credentials: Mapping[str, str]
) -> ConnectedAccount:
    """Create the account, or keep the existing one (its alias and history) and renew its credentials."""
    account = session.scalar(
        select(BrokerAccount).where(
            BrokerAccount.user_id == user_id,
            BrokerAccount.broker == BROKER,
            BrokerAccount.external_account_id == info.external_account_id,
        )
    )
    if account is None:
        account = BrokerAccount(
            user_id=user_id,
            broker=BROKER,
            external_account_id=info.external_account_id,
            alias=info.alias or info.external_account_id,
            base_currency=info.base_currency,
            status=AccountStatus.CONNECTED.value,
            details=dict(info.details),
        )
        session.add(account)
        session.flush()
    else:
        account.details = {**(account.details or {}), **info.details}
        if account.status != AccountStatus.DISABLED.value:
            account.status = AccountStatus.CONNECTED.value
        account.needs_reauth = False
        account.reauth_reason = None
    save_credentials(session, vault, account.id, credentials)
    return ConnectedAccount(account.id, info.external_account_id, account.alias)
