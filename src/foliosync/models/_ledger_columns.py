"""Columns every appended ledger record carries: owner account, provenance and natural key.

A record's identity is (account_id, source, natural_key): the broker's own id where it has one,
else a content hash (docs/ledger.md). Re-imports upsert on it, so nothing is ever duplicated.
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from foliosync.db.types import key_string
from foliosync.ledger.taxonomy import RecordStatus


class LedgerRecordColumns:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)

    @declared_attr
    def account_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("broker_accounts.id", ondelete="CASCADE"), nullable=False)

    source: Mapped[str] = mapped_column(key_string(16), nullable=False)
    natural_key: Mapped[str] = mapped_column(key_string(160), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=RecordStatus.POSTED.value)
    needs_review: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    raw_type: Mapped[str | None] = mapped_column(String(64))
    raw_subtype: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)

    @declared_attr
    def raw_payload_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("raw_payloads.id", ondelete="SET NULL"))
