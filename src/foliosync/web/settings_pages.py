"""The settings page: accounts with their health, adding accounts, linking, syncing, importing.

Every form here works without JavaScript (POST, then redirect back with a message). With
JavaScript, app.js upgrades the slow ones in place: "Sync now" and the TastyTrade connect follow
their job live, and Schwab's "Link" opens Schwab's login in a new tab while the page waits for the
account to turn CONNECTED. Those scripts call the same /api/v1 endpoints as any API client.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from foliosync.accounts.service import add_account, delete_account, get_owned_account, list_accounts
from foliosync.api.accounts import MAX_UPLOAD_BYTES
from foliosync.api.deps import IdPath, app_settings, db_session
from foliosync.brokers.registry import get_broker
from foliosync.config import Settings
from foliosync.demo import is_demo
from foliosync.errors import FoliosyncError, ValidationFailed
from foliosync.importers import FileFormat, get_format, load_formats
from foliosync.models import BrokerAccount, User
from foliosync.sync.importing import import_files
from foliosync.sync.runner import dispatch
from foliosync.sync.service import request_sync
from foliosync.vault import vault_from_settings
from foliosync.web.brokers_view import (
    account_cards,
    broker_cards,
    broker_name,
    syncs,
)
from foliosync.web.routing import PageRoute
from foliosync.web.session import check_csrf, flash, page_user, redirect
from foliosync.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/settings")
def settings_page(
    request: Request,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    accounts = list_accounts(session, user)
    context = {
        "cards": account_cards(session, accounts, datetime.now(UTC)),
        "brokers": broker_cards(),
        "statement_formats": sorted(
            (f for f in load_formats().values() if f.names_accounts), key=lambda f: f.name
        ),
        "has_demo": any(is_demo(a) for a in accounts),
        "now": datetime.now(UTC),
    }
    return render(request, settings, "settings.html", context, user=user, active="settings")


def _fail(request: Request, settings: Settings, exc: FoliosyncError, anchor: str) -> Response:
    flash(request, settings, "error", exc.message, exc.hint)
    return redirect(request, f"/settings#{anchor}")


@router.post("/settings/accounts")
async def add_account_submit(
    request: Request,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    form = await check_csrf(request, settings, user)
    broker = str(form.get("broker", ""))
    alias = str(form.get("alias", "")).strip() or None
    try:
        registered = get_broker(broker)
        manifest = registered.manifest
        if not syncs(registered):
            # An import-only account needs no credentials.
            account = add_account(
                session, vault_from_settings(settings), user, broker=broker, alias=alias, credentials={}
            )
        else:
            account = add_account(
                session,
                vault_from_settings(settings),
                user,
                broker=broker,
                alias=alias,
                credentials={
                    f.name: value
                    for f in manifest.credential_fields
                    if isinstance(value := form.get(f"cred_{f.name}"), str) and value.strip()
                },
                external_account_id=str(form.get("external_account_id", "")).strip() or None,
            )
        session.commit()
    except FoliosyncError as exc:
        session.rollback()
        return _fail(request, settings, exc, f"add-{broker}")
    next_step = (
        "Press “Sync now” to fetch its data." if manifest.credential_fields else "Import a file into it."
    )
    flash(request, settings, "ok", f"Added {account.alias} ({manifest.display_name}).", next_step)
    return redirect(request, f"/settings#account-{account.id}")


@router.post("/settings/link/{broker}")
async def link_submit(
    request: Request,
    broker: str,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    """Without JavaScript: start the OAuth link here and send the browser to the broker's login."""
    form = await check_csrf(request, settings, user)
    if broker != "schwab":
        return _fail(
            request, settings, ValidationFailed(f"{broker_name(broker)} has no link flow."), "accounts"
        )
    from foliosync.brokers.schwab.linking import start_link

    raw_id = str(form.get("account_id", "")).strip()
    try:
        started = start_link(
            session,
            settings,
            user_id=user.id,
            account_id=int(raw_id) if raw_id.isdigit() else None,
            trading=False,
            now=datetime.now(UTC),
        )
        session.commit()
    except FoliosyncError as exc:
        session.rollback()
        return _fail(request, settings, exc, "add-schwab")
    return redirect(request, started.authorization_url)


@router.post("/settings/accounts/{account_id}/sync")
async def sync_submit(
    request: Request,
    account_id: IdPath,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    await check_csrf(request, settings, user)
    account = get_owned_account(session, user, account_id)
    try:
        sync, created = request_sync(session, settings, account)
    except FoliosyncError as exc:
        session.rollback()
        return _fail(request, settings, exc, f"account-{account_id}")
    if created:
        dispatch(request.app.state, sync.id)
    message = "Sync started." if created else "A sync of this account is already running."
    flash(request, settings, "info", message, "Reload the page to see how it ended.")
    return redirect(request, f"/settings#account-{account_id}")


@router.post("/settings/accounts/{account_id}/delete")
async def delete_submit(
    request: Request,
    account_id: IdPath,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    await check_csrf(request, settings, user)
    account = get_owned_account(session, user, account_id)
    alias = account.alias
    delete_account(session, account, keep_ledger=False)
    session.commit()
    flash(request, settings, "ok", f"Removed {alias} and everything imported into it.")
    return redirect(request, "/settings")


async def _uploads(form: FormData) -> list[tuple[str, bytes]]:
    payloads: list[tuple[str, bytes]] = []
    for item in form.getlist("files"):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        content = await item.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(
                f"{item.filename} is larger than {MAX_UPLOAD_BYTES // 2**20} MB.",
                hint="Split the export into shorter periods.",
            )
        payloads.append((item.filename, content))
    if not payloads:
        raise ValidationFailed("Choose at least one file to import.")
    return payloads


def _format_for(form: FormData, account: BrokerAccount | None) -> FileFormat:
    name = str(form.get("format", "")).strip()
    if name:
        fmt = get_format(name)
    elif account is not None:
        matches = sorted(n for n, f in load_formats().items() if f.broker.value == account.broker)
        if not matches:
            raise ValidationFailed(f"There is no file import for {broker_name(account.broker)} accounts.")
        fmt = get_format(matches[0])
    else:
        raise ValidationFailed("Choose the kind of file you are importing.")
    if account is not None and fmt.broker.value != account.broker:
        raise ValidationFailed(
            f"{fmt.description} files belong to {broker_name(fmt.broker.value)} accounts, "
            f"not to {broker_name(account.broker)}.",
            hint="Pick the right account or file type.",
        )
    return fmt


async def _import(
    request: Request, session: Session, settings: Settings, user: User, account_id: int | None
) -> Response:
    form = await check_csrf(request, settings, user)
    anchor = f"account-{account_id}" if account_id else "import"
    try:
        account = get_owned_account(session, user, account_id) if account_id else None
        fmt = _format_for(form, account)
        summary = import_files(session, user, fmt, await _uploads(form), account)
        session.commit()
    except FoliosyncError as exc:
        session.rollback()
        return _fail(request, settings, exc, anchor)
    context = {"summary": summary, "fmt": fmt}
    return render(request, settings, "import_result.html", context, user=user, active="settings")


@router.post("/settings/accounts/{account_id}/import")
async def import_into_account(
    request: Request,
    account_id: IdPath,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    return await _import(request, session, settings, user, account_id)


@router.post("/settings/import")
async def import_statement(
    request: Request,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    """Statements that name their accounts (IBKR Flex): the accounts are found or created."""
    return await _import(request, session, settings, user, None)
