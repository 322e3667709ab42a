from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base, TimestampMixin
from foliosync.db.types import UTCDateTime
from foliosync.ledger.taxonomy import AccountStatus, SyncStatus


class BrokerAccount(TimestampMixin, Base):
    """One account at one broker, owned by one user. Every ledger row points here."""

    __tablename__ = "broker_accounts"
    __table_args__ = (UniqueConstraint("user_id", "broker", "external_account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    broker: Mapped[str] = mapped_column(String(32), nullable=False)
    # The broker's own account number (never Schwab's URL hash). Null until discovery fills it.
    external_account_id: Mapped[str | None] = mapped_column(String(64))
    alias: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    base_currency: Mapped[str] = mapped_column(String(8), nullable=False, default="USD")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=AccountStatus.PENDING.value)
    sync_status: Mapped[str] = mapped_column(String(16), nullable=False, default=SyncStatus.NEVER.value)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_successful_sync: Mapped[datetime | None] = mapped_column(UTCDateTime())
    needs_reauth: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reauth_reason: Mapped[str | None] = mapped_column(Text)
    # When the current link must be renewed (Schwab refresh tokens live 7 days).
    reauth_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sync_interval_minutes: Mapped[int | None] = mapped_column(Integer)
    # Broker-specific sync cursor (e.g. last transaction date fetched), moved only after commit.
    sync_cursor: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # Bumped by every ledger write for this account: read models cache on it (portfolio holdings).
    ledger_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Non-secret broker details (Schwab account hash, TastyTrade nickname, ...).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
