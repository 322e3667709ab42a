"""`foliosync rebuild`: re-derive the ledger from the archived raw payloads.

Every payload a sync or import read is kept (raw_payloads). After a mapping fix, rebuilding runs
today's parsers and normalizers over all of them again, oldest first, and upserts the result, so
corrected rows are updated in place. With `clean`, the derived rows of the affected accounts are
deleted first, inside the same transaction, so rows that a fixed mapping no longer produces go
away too. Each user is rebuilt in one transaction: a failure leaves that ledger as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from foliosync.db.session import session_scope
from foliosync.db.upsert import UpsertCounts, UpsertReport
from foliosync.errors import FoliosyncError
from foliosync.importers import load_formats
from foliosync.ledger.writer import FAMILIES, read_raw_payload
from foliosync.models import BrokerAccount, RawPayload, User
from foliosync.sync.importing import import_batch


@dataclass
class RebuildResult:
    payloads: int = 0
    report: UpsertReport = field(default_factory=UpsertReport)
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped_kinds: set[str] = field(default_factory=set)


def _clean(session: Session, account_ids: list[int]) -> None:
    for family in FAMILIES:
        session.execute(delete(family.model).where(family.model.account_id.in_(account_ids)))


def rebuild_ledger(
    engine: Engine,
    *,
    user_email: str | None = None,
    clean: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    result = RebuildResult()
    formats = load_formats()
    with session_scope(engine) as session:
        users = session.scalars(
            select(User).where(User.email == user_email.lower()) if user_email else select(User)
        ).all()
        user_ids = [u.id for u in users]
    total_payloads = 0
    with session_scope(engine) as session:
        total_payloads = len(
            session.scalars(select(RawPayload.id).where(RawPayload.user_id.in_(user_ids))).all()
        )
    done = 0
    for user_id in user_ids:
        try:
            with session_scope(engine) as session:
                user = session.get(User, user_id)
                assert user is not None
                payloads = session.scalars(
                    select(RawPayload)
                    .where(RawPayload.user_id == user_id)
                    .order_by(RawPayload.fetched_at, RawPayload.id)
                ).all()
                if clean:
                    _clean(
                        session,
                        [
                            a.id
                            for a in session.scalars(
                                select(BrokerAccount).where(BrokerAccount.user_id == user_id)
                            )
                        ],
                    )
                for payload in payloads:
                    done += 1
                    fmt = formats.get(payload.kind)
                    if fmt is None:
                        result.skipped_kinds.add(payload.kind)
                        continue
                    target = session.get(BrokerAccount, payload.account_id) if payload.account_id else None
                    name = payload.source_name or payload.kind
                    batch = fmt.parse(read_raw_payload(payload), name)
                    batch.raw_payloads.clear()  # already archived
                    summary = import_batch(session, user, fmt, batch, [name], target, trigger="rebuild")
                    for account in summary.accounts:
                        for table, counts in account.counts.items():
                            result.report.add(table, UpsertCounts(**counts))
                    result.payloads += 1
                    if on_progress:
                        on_progress(done, total_payloads)
        except FoliosyncError as exc:
            result.failures.append((f"user {user_id}", str(exc)))
    return result
