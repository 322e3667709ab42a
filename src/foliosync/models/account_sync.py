from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import UTCDateTime
from foliosync.ledger.taxonomy import SyncStatus


class AccountSync(Base):
    """One sync or import attempt for one account: what it did and how it ended."""

    __tablename__ = "account_syncs"
    # At most one active sync per account, enforced by the database itself so that two processes
    # (two web workers, a worker and beat) can never start a second one: the loser's INSERT fails.
    __table_args__ = (
        Index(
            "uq_account_syncs_one_active",
            "account_id",
            unique=True,
            sqlite_where=text("status IN ('QUEUED', 'RUNNING')"),
            postgresql_where=text("status IN ('QUEUED', 'RUNNING')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("broker_accounts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=SyncStatus.QUEUED.value)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False, default="manual")
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Refreshed while a worker is alive; a RUNNING row whose heartbeat went stale was orphaned.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    # {"trades": {"inserted": 3, "updated": 0, "unchanged": 10}, ...}
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    reconciliation: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    warnings: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    error_class: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(Text)
    # File imports: what was imported (sync/import_replay.py), so the same statement imported again
    # into unchanged accounts is answered without parsing it. import_key hashes the format, the
    # parser's version and every file's sha256; ledger_version_after is the account's version once
    # this import was written; details holds the rest of its summary (cash totals, unknown types).
    import_key: Mapped[str | None] = mapped_column(String(64), index=True)
    ledger_version_after: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict, server_default="{}")
