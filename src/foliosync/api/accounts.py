"""/api/v1/accounts: add, list, get, delete, sync, sync history, file import."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from foliosync.accounts.service import (
    add_account,
    delete_account,
    get_owned_account,
    list_accounts,
    reauth_warning,
    sync_history,
)
from foliosync.api.deps import IdPath, app_settings, current_user, db_session
from foliosync.config import Settings
from foliosync.errors import ValidationFailed
from foliosync.importers import get_format, load_formats
from foliosync.models import AccountSync, BrokerAccount, User
from foliosync.sync.importing import import_files
from foliosync.sync.runner import dispatch
from foliosync.sync.service import request_sync
from foliosync.vault import vault_from_settings
from foliosync.vault.store import has_credentials

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class AccountIn(BaseModel):
    broker: str = Field(max_length=32)
    alias: str | None = Field(default=None, max_length=128)
    external_account_id: str | None = Field(default=None, max_length=64)
    base_currency: str = Field(default="USD", min_length=3, max_length=8)
    # Write-only: stored encrypted, never returned.
    credentials: dict[str, str] = Field(default_factory=dict)


class AccountOut(BaseModel):
    id: int
    broker: str
    alias: str
    external_account_id: str | None
    base_currency: str
    status: str
    sync_status: str
    last_sync_at: datetime | None
    last_successful_sync: datetime | None
    needs_reauth: bool
    reauth_due_at: datetime | None
    warning: str | None
    has_credentials: bool

    @classmethod
    def of(cls, session: Session, account: BrokerAccount) -> AccountOut:
        return cls(
            id=account.id,
            broker=account.broker,
            alias=account.alias,
            external_account_id=account.external_account_id,
            base_currency=account.base_currency,
            status=account.status,
            sync_status=account.sync_status,
            last_sync_at=account.last_sync_at,
            last_successful_sync=account.last_successful_sync,
            needs_reauth=account.needs_reauth,
            reauth_due_at=account.reauth_due_at,
            warning=reauth_warning(account),
            has_credentials=has_credentials(session, account.id),
        )


class SyncOut(BaseModel):
    id: int
    account_id: int
    status: str
    trigger: str
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    counts: dict[str, Any]
    reconciliation: dict[str, Any]
    warnings: list[str]
    error_class: str | None
    error_message: str | None

    @classmethod
    def of(cls, sync: AccountSync) -> SyncOut:
        return cls(
            id=sync.id,
            account_id=sync.account_id,
            status=sync.status,
            trigger=sync.trigger,
            queued_at=sync.queued_at,
            started_at=sync.started_at,
            finished_at=sync.finished_at,
            duration_ms=sync.duration_ms,
            counts=sync.counts or {},
            reconciliation=sync.reconciliation or {},
            warnings=sync.warnings or [],
            error_class=sync.error_class,
            error_message=sync.error_message,
        )


class SyncRequestOut(BaseModel):
    sync_id: int
    status: str
    already_running: bool


class DeleteOut(BaseModel):
    deleted: bool
    ledger_rows_deleted: bool
    message: str


@router.get("", response_model=list[AccountOut])
def list_my_accounts(
    user: User = Depends(current_user), session: Session = Depends(db_session)
) -> list[AccountOut]:
    return [AccountOut.of(session, a) for a in list_accounts(session, user)]


@router.post("", status_code=201, response_model=AccountOut)
def add_my_account(
    body: AccountIn,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> AccountOut:
    account = add_account(
        session,
        vault_from_settings(settings),
        user,
        broker=body.broker,
        alias=body.alias,
        credentials=body.credentials,
        external_account_id=body.external_account_id,
        base_currency=body.base_currency,
    )
    session.commit()
    return AccountOut.of(session, account)


@router.get("/{account_id}", response_model=AccountOut)
def get_my_account(
    account_id: IdPath, user: User = Depends(current_user), session: Session = Depends(db_session)
) -> AccountOut:
    return AccountOut.of(session, get_owned_account(session, user, account_id))


@router.delete("/{account_id}", response_model=DeleteOut)
def delete_my_account(
    account_id: IdPath,
    keep_ledger: bool = False,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
) -> DeleteOut:
    account = get_owned_account(session, user, account_id)
    deleted_rows = delete_account(session, account, keep_ledger=keep_ledger)
    session.commit()
    message = (
        "Account and all its ledger rows deleted."
        if deleted_rows
        else "Credentials erased and account disabled; its ledger rows were kept."
    )
    return DeleteOut(deleted=deleted_rows, ledger_rows_deleted=deleted_rows, message=message)


@router.post("/{account_id}/sync", status_code=202, response_model=SyncRequestOut)
def sync_my_account(
    account_id: IdPath,
    request: Request,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> SyncRequestOut:
    account = get_owned_account(session, user, account_id)
    sync, created = request_sync(session, settings, account)  # commits before dispatch
    if created:
        dispatch(request.app.state, sync.id)
    return SyncRequestOut(sync_id=sync.id, status=sync.status, already_running=not created)


@router.get("/{account_id}/syncs", response_model=list[SyncOut])
def my_account_syncs(
    account_id: IdPath, user: User = Depends(current_user), session: Session = Depends(db_session)
) -> list[SyncOut]:
    account = get_owned_account(session, user, account_id)
    return [SyncOut.of(s) for s in sync_history(session, account)]


@router.get("/{account_id}/syncs/{sync_id}", response_model=SyncOut)
def my_account_sync(
    account_id: IdPath,
    sync_id: IdPath,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
) -> SyncOut:
    account = get_owned_account(session, user, account_id)
    sync = session.get(AccountSync, sync_id)
    if sync is None or sync.account_id != account.id:
        from foliosync.errors import NotFoundError

        raise NotFoundError("No such sync.")
    return SyncOut.of(sync)


@router.post("/{account_id}/import")
async def import_into_account(
    account_id: IdPath,
    files: list[UploadFile] = File(...),
    format: str | None = Form(default=None),
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
) -> dict[str, Any]:
    """Upload broker exports (multipart); answers with the same summary `foliosync import` prints."""
    account = get_owned_account(session, user, account_id)
    fmt_name = format or _default_format(account.broker)
    fmt = get_format(fmt_name)
    if fmt.broker.value != account.broker:
        raise ValidationFailed(
            f"{fmt_name} files belong to {fmt.broker.value} accounts, not {account.broker}."
        )
    payloads: list[tuple[str, bytes]] = []
    for upload in files:
        content = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(f"{upload.filename} is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
        payloads.append((upload.filename or "upload", content))
    summary = import_files(session, user, fmt, payloads, account)
    session.commit()
    return summary.as_dict()


def _default_format(broker: str) -> str:
    matches = sorted(name for name, fmt in load_formats().items() if fmt.broker.value == broker)
    if not matches:
        raise ValidationFailed(f"There is no file import for {broker} accounts.")
    return matches[0]
