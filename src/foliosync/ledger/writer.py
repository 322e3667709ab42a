"""Write a canonical `Batch` into the ledger: archive payloads, resolve instruments and accounts,
upsert every record family by its natural key, replace snapshots. The caller owns the transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from foliosync.db.upsert import UpsertCounts, UpsertReport, bulk_upsert
from foliosync.ledger.instruments import canonical_symbol
from foliosync.ledger.records import Batch, InstrumentRef, RawPayloadRef
from foliosync.models import (
    Balance,
    BrokerAccount,
    CashTransaction,
    CorporateAction,
    Instrument,
    OptionEvent,
    Position,
    RawPayload,
    TaxLot,
    Trade,
    Transfer,
)

APPENDED_KEY = ("account_id", "source", "natural_key")


@dataclass(frozen=True)
class Family:
    """How one record family of a Batch maps onto its table."""

    batch_attr: str
    model: Any
    key: tuple[str, ...]


FAMILIES: tuple[Family, ...] = (
    Family("trades", Trade, APPENDED_KEY),
    Family("cash", CashTransaction, APPENDED_KEY),
    Family("lots", TaxLot, APPENDED_KEY),
    Family("transfers", Transfer, APPENDED_KEY),
    Family("option_events", OptionEvent, APPENDED_KEY),
    Family("corporate_actions", CorporateAction, APPENDED_KEY),
    Family("positions", Position, ("account_id", "source", "as_of_date", "instrument_id")),
    Family("balances", Balance, ("account_id", "source", "as_of_date", "currency")),
)


class UnknownAccountError(LookupError):
    """A record names an account that the caller did not map to a BrokerAccount."""


def store_raw_payload(
    session: Session, user_id: int, broker: str, ref: RawPayloadRef, account_id: int | None = None
) -> int:
    """Keep the payload once per (user, content) and return its id."""
    digest = hashlib.sha256(ref.content).hexdigest()
    existing = session.scalar(
        select(RawPayload.id).where(RawPayload.user_id == user_id, RawPayload.sha256 == digest)
    )
    if existing is not None:
        return existing
    payload = RawPayload(
        user_id=user_id,
        account_id=account_id,
        broker=broker,
        kind=ref.kind,
        source_name=ref.source_name,
        sha256=digest,
        size=len(ref.content),
        compressed=zlib.compress(ref.content, 6),
    )
    session.add(payload)
    session.flush()
    return payload.id


def read_raw_payload(payload: RawPayload) -> bytes:
    return zlib.decompress(payload.compressed)


_INSTRUMENT_FIELDS = [f.name for f in dataclasses.fields(InstrumentRef)]


def _new_instrument(key: str, ref: InstrumentRef) -> Instrument:
    values = {name: getattr(ref, name) for name in _INSTRUMENT_FIELDS}
    values["asset_category"] = ref.asset_category.value
    if ref.asset_category.value not in ("OPT", "FOP"):
        values["symbol"] = canonical_symbol(ref.symbol)  # one spelling inside foliosync (BRK.B)
    return Instrument(key=key, **values)


def ensure_instruments(
    session: Session, refs: Iterable[InstrumentRef]
) -> tuple[dict[str, int], UpsertCounts]:
    """Insert unknown instruments and fill in attributes that a richer source knows (a conid, an
    ISIN) without erasing what another source said. Returns key -> id."""
    by_key: dict[str, InstrumentRef] = {}
    for ref in refs:
        by_key.setdefault(ref.key, ref)
    counts = UpsertCounts()
    ids: dict[str, int] = {}
    keys = list(by_key)
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        for inst in session.scalars(select(Instrument).where(Instrument.key.in_(chunk))):
            ids[inst.key] = inst.id
            ref = by_key[inst.key]
            changed = False
            for name in _INSTRUMENT_FIELDS:
                value = getattr(ref, name)
                if value is not None and getattr(inst, name) is None:
                    setattr(inst, name, value.value if hasattr(value, "value") else value)
                    changed = True
            counts.updated += changed
            counts.unchanged += not changed
    new = [_new_instrument(key, ref) for key, ref in by_key.items() if key not in ids]
    if new:
        session.add_all(new)
        session.flush()
        for inst in new:
            ids[inst.key] = inst.id
        counts.inserted += len(new)
    return ids, counts


def _rows(
    records: Sequence[Any], source: str, account_ids: Mapping[str, int], instrument_ids: Mapping[str, int]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for record in records:
        row: dict[str, Any] = {}
        for f in dataclasses.fields(record):
            value = getattr(record, f.name)
            if f.name == "account":
                try:
                    row["account_id"] = account_ids[value]
                except KeyError:
                    raise UnknownAccountError(f"record for unmapped account {value!r}") from None
            elif f.name == "instrument":
                row["instrument_id"] = None if value is None else instrument_ids[value.key]
            else:
                row[f.name] = value
        row.setdefault("source", source)
        rows.append(row)
    return rows


def _replace_snapshots(session: Session, model: Any, rows: list[dict[str, Any]], member_col: str) -> int:
    """A snapshot is the whole truth for its (account, source, as_of_date): drop members that the
    new snapshot no longer lists (a position closed, a currency gone)."""
    groups: dict[tuple[int, str, date], set[Any]] = {}
    for row in rows:
        groups.setdefault((row["account_id"], row["source"], row["as_of_date"]), set()).add(row[member_col])
    removed = 0
    for (account_id, source, as_of), members in groups.items():
        stmt = delete(model).where(
            model.account_id == account_id,
            model.source == source,
            model.as_of_date == as_of,
            getattr(model, member_col).not_in(members),
        )
        removed += session.execute(stmt).rowcount or 0  # type: ignore[attr-defined]
    return removed


def write_batch(
    session: Session, batch: Batch, account_ids: Mapping[str, int], *, user_id: int, archive: bool = True
) -> UpsertReport:
    """Upsert everything in `batch`. `account_ids` maps broker account numbers to BrokerAccount ids."""
    report = UpsertReport()
    if archive:
        for ref in batch.raw_payloads:
            store_raw_payload(
                session,
                user_id,
                batch.broker.value,
                ref,
                account_ids.get(ref.account) if ref.account else None,
            )
    refs: list[InstrumentRef] = []
    for family in FAMILIES:
        for record in getattr(batch, family.batch_attr):
            instrument = getattr(record, "instrument", None)
            if instrument is not None:
                refs.append(instrument)
    instrument_ids, instrument_counts = ensure_instruments(session, refs)
    report.add("instruments", instrument_counts)
    for family in FAMILIES:
        records = getattr(batch, family.batch_attr)
        if not records:
            continue
        rows = _rows(records, batch.source.value, account_ids, instrument_ids)
        table = family.model.__table__
        counts = bulk_upsert(session, table, rows, family.key)
        if family.batch_attr in ("positions", "balances"):
            member = "instrument_id" if family.batch_attr == "positions" else "currency"
            counts.updated += _replace_snapshots(session, family.model, rows, member)
        report.add(table.name, counts)
    if report.written:
        touched = sorted(set(account_ids.values()))
        session.execute(
            update(BrokerAccount)
            .where(BrokerAccount.id.in_(touched))
            .values(ledger_version=BrokerAccount.ledger_version + 1)
        )
    return report


def existing_keys(
    session: Session, model: Any, account_id: int, source: str, keys: Sequence[str]
) -> set[str]:
    """Which of these natural keys the ledger already holds (used by incremental imports)."""
    found: set[str] = set()
    for start in range(0, len(keys), 5000):
        chunk = list(keys[start : start + 5000])
        stmt = select(model.natural_key).where(
            tuple_(model.account_id, model.source).in_([(account_id, source)]),
            model.natural_key.in_(chunk),
        )
        found.update(session.scalars(stmt))
    return found
