"""Import downloaded files into a user's ledger: parse, map accounts, upsert, reconcile, summarise.

Parsing happens before anything is written, and the caller commits once at the end, so a bad
file leaves the ledger exactly as it was.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.db.types import canonical_decimal
from foliosync.errors import ValidationFailed
from foliosync.importers import UNSPECIFIED_ACCOUNT, FileFormat
from foliosync.ledger.reconcile import reconcile_account
from foliosync.ledger.records import Batch, RawPayloadRef
from foliosync.ledger.taxonomy import AccountStatus, SyncStatus
from foliosync.ledger.writer import store_raw_payload, write_batch
from foliosync.models import AccountSync, BrokerAccount, User
from foliosync.sync.lots import refresh_computed_lots


@dataclass
class AccountImportSummary:
    account_id: int
    external_account_id: str | None
    alias: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    cash_totals: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> currency -> amount
    unknown_types: dict[str, int] = field(default_factory=dict)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    status: str = SyncStatus.SUCCESS.value
    warnings: list[str] = field(default_factory=list)  # why the import is PARTIAL, if it is
    sync_id: int | None = None


@dataclass
class ImportSummary:
    format: str
    files: list[str]
    accounts: list[AccountImportSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "files": self.files,
            "warnings": self.warnings,
            "accounts": [a.__dict__ for a in self.accounts],
        }


def _cash_totals(batch: Batch, account: str) -> dict[str, dict[str, str]]:
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in batch.cash:
        if record.account == account:
            totals[record.kind.value][record.currency] += record.amount
    return {
        kind: {cur: canonical_decimal(v) for cur, v in sorted(c.items())}
        for kind, c in sorted(totals.items())
    }


def _find_or_create(
    session: Session, user: User, broker: str, external_id: str, base_currency: str, alias: str | None
) -> BrokerAccount:
    account = session.scalar(
        select(BrokerAccount).where(
            BrokerAccount.user_id == user.id,
            BrokerAccount.broker == broker,
            BrokerAccount.external_account_id == external_id,
        )
    )
    if account is None:
        account = BrokerAccount(
            user_id=user.id,
            broker=broker,
            external_account_id=external_id,
            alias=alias or f"{broker.upper()} {external_id[-4:]}",
            base_currency=base_currency,
            status=AccountStatus.CONNECTED.value,
        )
        session.add(account)
        session.flush()
    return account


def resolve_accounts(
    session: Session, user: User, fmt: FileFormat, batch: Batch, target: BrokerAccount | None
) -> dict[str, BrokerAccount]:
    """Map every account number in the batch to one of the user's BrokerAccounts."""
    broker = fmt.broker.value
    if target is not None and target.broker != broker:
        raise ValidationFailed(
            f"Account {target.alias!r} is a {target.broker} account; this is a {broker} file ({fmt.name})."
        )
    infos = {a.external_account_id: a for a in batch.accounts}
    mapping: dict[str, BrokerAccount] = {}
    for number in batch.account_numbers():
        info = infos.get(number)
        if number == UNSPECIFIED_ACCOUNT:
            if target is None:
                raise ValidationFailed(
                    f"{fmt.name} files do not name their account.",
                    hint="Choose the account to import into (--account ID, or the account's import page).",
                )
            mapping[number] = target
        elif target is not None and target.external_account_id in (None, number):
            target.external_account_id = number
            mapping[number] = target
        elif target is not None and not fmt.names_accounts:
            mapping[number] = target
        else:
            mapping[number] = _find_or_create(
                session,
                user,
                broker,
                number,
                info.base_currency if info else "USD",
                info.alias if info else None,
            )
    return mapping


def import_batch(
    session: Session,
    user: User,
    fmt: FileFormat,
    batch: Batch,
    files: list[str],
    target: BrokerAccount | None = None,
    *,
    trigger: str = "import",
) -> ImportSummary:
    accounts = resolve_accounts(session, user, fmt, batch, target)
    account_ids = {number: acct.id for number, acct in accounts.items()}
    started = datetime.now(UTC)
    single = next(iter(accounts.values())) if len(accounts) == 1 else None
    for ref in batch.raw_payloads:
        store_raw_payload(session, user.id, fmt.broker.value, ref, single.id if single else None)
    summary = ImportSummary(format=fmt.name, files=files, warnings=list(batch.warnings))
    for number, account in accounts.items():
        part = batch.for_account(number)
        report = write_batch(session, part, account_ids, user_id=user.id, archive=False)
        counts = report.as_dict()
        lots = refresh_computed_lots(session, account, batch.source.value)
        if lots is not None:
            counts["computed_lots"] = lots
        result = reconcile_account(session, account.id, number, part, account_ids)
        status = SyncStatus.SUCCESS
        warnings = [f"section missing or empty: {s}" for s in sorted(batch.missing_sections)]
        if warnings or (result.checked and not result.ok):
            status = SyncStatus.PARTIAL
        now = datetime.now(UTC)
        sync = AccountSync(
            account_id=account.id,
            status=status.value,
            trigger=trigger,
            queued_at=started,
            started_at=started,
            finished_at=now,
            duration_ms=int((now - started).total_seconds() * 1000),
            counts=counts,
            reconciliation=result.as_dict(),
            warnings=warnings,
        )
        session.add(sync)
        account.sync_status = status.value
        account.last_sync_at = now
        if account.status == AccountStatus.PENDING.value:
            account.status = AccountStatus.CONNECTED.value
        if status is SyncStatus.SUCCESS:
            account.last_successful_sync = now
        session.flush()
        summary.accounts.append(
            AccountImportSummary(
                account_id=account.id,
                external_account_id=account.external_account_id,
                alias=account.alias,
                counts=counts,
                cash_totals=_cash_totals(part, number),
                unknown_types=dict(batch.unknown_types),
                reconciliation=result.as_dict(),
                status=status.value,
                warnings=warnings
                + (
                    [f"reconciliation found {len(result.differences)} differences"]
                    if result.checked and not result.ok
                    else []
                ),
                sync_id=sync.id,
            )
        )
    return summary


def import_files(
    session: Session,
    user: User,
    fmt: FileFormat,
    files: list[tuple[str, bytes]],
    target: BrokerAccount | None = None,
) -> ImportSummary:
    """Parse every file first (an error names the file and line; nothing is written), then import."""
    if not files:
        raise ValidationFailed("No files given.")
    parsed: list[Batch] = []
    for name, content in files:
        batch = fmt.parse(content, name)
        if not batch.raw_payloads:
            batch.raw_payloads.append(RawPayloadRef(kind=fmt.name, content=content, source_name=name))
        parsed.append(batch)
    merged = parsed[0]
    for extra in parsed[1:]:
        merged.extend(extra)
    return import_batch(session, user, fmt, merged, [name for name, _ in files], target)
