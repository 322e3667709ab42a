"""Write a canonical `Batch` into the ledger: archive payloads, resolve instruments and accounts,
upsert every record family by its natural key, replace snapshots. The caller owns the transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
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


def store_packed_payload(
    session: Session,
    user_id: int,
    broker: str,
    packed: PackedPayload,
    *,
    kind: str,
    source_name: str | None,
    account_id: int | None = None,
) -> tuple[int, bool]:
    """`store_raw_payload` for a payload hashed and compressed while it was streamed from disk.
    Returns (id, whether it was stored now)."""
    existing = session.scalar(
        select(RawPayload.id).where(RawPayload.user_id == user_id, RawPayload.sha256 == packed.sha256)
    )
    if existing is not None:
        return existing, False
    payload = RawPayload(
        user_id=user_id,
        account_id=account_id,
        broker=broker,
        kind=kind,
        source_name=source_name,
        sha256=packed.sha256,
        size=packed.size,
        compressed=packed.compressed,
    )
    session.add(payload)
    session.flush()
    payload_id = payload.id
    session.expunge(payload)  # the identity map would otherwise keep the compressed file alive
    return payload_id, True


@dataclass(frozen=True)
class PackedPayload:
    sha256: str
    size: int
    compressed: bytes


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
    """Records -> column dicts. The field names are read once per family and the values pulled with
    one attrgetter call per record; an instrument's key (which runs canonical_symbol's regex) is
    computed once per distinct InstrumentRef object, not once per record (docs/benchmarks/flex.md)."""
    if not records:
        return []
    names = [f.name for f in dataclasses.fields(records[0])]
    get: Any = operator.attrgetter(*names)
    columns = ["account_id" if n == "account" else "instrument_id" if n == "instrument" else n for n in names]
    account_at = names.index("account") if "account" in names else -1
    instrument_at = names.index("instrument") if "instrument" in names else -1
    has_source = "source" in names
    ids_by_ref: dict[int, int] = {}
    rows: list[dict[str, Any]] = []
    append = rows.append
    for record in records:
        values: list[Any] = list(get(record)) if len(names) > 1 else [get(record)]
        if account_at >= 0:
            number = values[account_at]
            try:
                values[account_at] = account_ids[number]
            except KeyError:
                raise UnknownAccountError(f"record for unmapped account {number!r}") from None
        if instrument_at >= 0:
            ref = values[instrument_at]
            if ref is not None:
                found = ids_by_ref.get(id(ref))
                if found is None:
                    found = ids_by_ref[id(ref)] = instrument_ids[ref.key]
                values[instrument_at] = found
        row = dict(zip(columns, values, strict=True))
        if not has_source:
            row["source"] = source
        append(row)
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


def instrument_refs(batch: Batch) -> list[InstrumentRef]:
    """The distinct InstrumentRef objects the batch's records name (by identity: the Flex
    normalizer shares one ref per instrument, so 100k trades name ~2k refs)."""
    seen: dict[int, InstrumentRef] = {}
    for family in FAMILIES:
        for record in getattr(batch, family.batch_attr):
            instrument = getattr(record, "instrument", None)
            if instrument is not None and id(instrument) not in seen:
                seen[id(instrument)] = instrument
    return list(seen.values())


def write_records(
    session: Session,
    batch: Batch,
    account_ids: Mapping[str, int],
    *,
    known_instruments: dict[str, int] | None = None,
) -> UpsertReport:
    """Upsert every record family of `batch` (no payload archiving, no ledger_version bump): the
    shared core of `write_batch` and of the streaming import, which writes a statement in parts.

    `known_instruments` (key -> id) is a cache kept by a caller writing several parts of one import
    in one transaction: instruments already ensured by an earlier part are not read again nor counted
    again. (As ensure_instruments itself keeps the first ref per key, the first part naming a key
    decides.)
    """
    report = UpsertReport()
    refs = instrument_refs(batch)
    if known_instruments is None:
        instrument_ids, instrument_counts = ensure_instruments(session, refs)
    else:
        unknown = [ref for ref in refs if ref.key not in known_instruments]
        instrument_ids, instrument_counts = ensure_instruments(session, unknown)
        known_instruments.update(instrument_ids)
        instrument_ids = known_instruments
    report.add("instruments", instrument_counts)
    for family in FAMILIES:
        records = getattr(batch, family.batch_attr)
        if not records:
            continue
        table = family.model.__table__
        if family.key == APPENDED_KEY and len(records) > WRITE_SLICE and _unique_keys(records):
            # Rows (dicts) are built and upserted a slice at a time, so a 100k-trade statement does
            # not hold 100k dicts at once. Only when no key repeats: bulk_upsert's "last row wins"
            # must see every row of a key together. (Snapshots are never sliced: a snapshot replaces
            # what it does not list.)
            for start in range(0, len(records), WRITE_SLICE):
                part = records[start : start + WRITE_SLICE]
                rows = _rows(part, batch.source.value, account_ids, instrument_ids)
                report.add(table.name, bulk_upsert(session, table, rows, family.key))
                del rows
            continue
        rows = _rows(records, batch.source.value, account_ids, instrument_ids)
        counts = bulk_upsert(session, table, rows, family.key)
        if family.batch_attr in ("positions", "balances"):
            member = "instrument_id" if family.batch_attr == "positions" else "currency"
            counts.updated += _replace_snapshots(session, family.model, rows, member)
        report.add(table.name, counts)
    return report


WRITE_SLICE = 10_000


def _unique_keys(records: Sequence[Any]) -> bool:
    keys = {(record.account, record.natural_key) for record in records}
    return len(keys) == len(records)


def bump_ledger_versions(session: Session, account_ids: Iterable[int]) -> None:
    """Tell caches that these accounts' ledgers changed."""
    touched = sorted(set(account_ids))
    session.execute(
        update(BrokerAccount)
        .where(BrokerAccount.id.in_(touched))
        .values(ledger_version=BrokerAccount.ledger_version + 1)
    )


def write_batch(
    session: Session, batch: Batch, account_ids: Mapping[str, int], *, user_id: int, archive: bool = True
) -> UpsertReport:
    """Upsert everything in `batch`. `account_ids` maps broker account numbers to BrokerAccount ids."""
    if archive:
        for ref in batch.raw_payloads:
            store_raw_payload(
                session,
                user_id,
                batch.broker.value,
                ref,
                account_ids.get(ref.account) if ref.account else None,
            )
    report = write_records(session, batch, account_ids)
    if report.written:
        bump_ledger_versions(session, account_ids.values())
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
