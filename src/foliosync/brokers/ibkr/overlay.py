"""The live overlay on top of the statement: marks and a reconciliation view.

Flex statements (source "flex_xml") are the system of record for IBKR accounts, but they are a day
old. While TWS / IB Gateway is connected, live positions (source "live") carry fresher marks.

* `overlay_marks` uses a live mark while it is fresh (younger than `max_age`), shows its age, and
  falls back to the statement's mark otherwise.
* `reconcile` lists the positions whose quantity differs between live and the latest statement:
  trades made since the statement, or transfers, corporate actions, errors.

Both are pure functions over `Holding` rows, so they work with records from a fetch, with live
positions straight from the connection, and with ORM rows (`latest_holdings` reads those).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from foliosync.brokers.ibkr.live_models import LivePosition
from foliosync.ledger.records import PositionRecord
from foliosync.ledger.taxonomy import SourceFormat
from foliosync.models import BrokerAccount, Instrument, Position

LIVE = SourceFormat.LIVE.value
STATEMENT = SourceFormat.FLEX_XML.value
DEFAULT_MAX_AGE = timedelta(minutes=15)
ZERO = Decimal(0)

Key = tuple[str, str]  # (account, instrument key)


@dataclass(frozen=True)
class Holding:
    """One position from one source, reduced to what the overlay compares."""

    account: str  # the broker's account number
    instrument_key: str
    symbol: str
    quantity: Decimal
    currency: str
    as_of: datetime
    source: str
    mark_price: Decimal | None = None
    market_value: Decimal | None = None

    @property
    def key(self) -> Key:
        return (self.account, self.instrument_key)

    @classmethod
    def from_record(cls, record: PositionRecord, source: str) -> Holding:
        return cls(
            account=record.account,
            instrument_key=record.instrument.key,
            symbol=record.instrument.symbol,
            quantity=record.quantity,
            currency=record.currency,
            as_of=record.as_of,
            source=source,
            mark_price=record.mark_price,
            market_value=record.market_value,
        )

    @classmethod
    def from_live(cls, position: LivePosition) -> Holding:
        instrument = position.contract.instrument()
        return cls(
            account=position.account,
            instrument_key=instrument.key,
            symbol=instrument.symbol,
            quantity=position.quantity,
            currency=position.contract.currency,
            as_of=position.as_of,
            source=LIVE,
            mark_price=position.market_price if position.marked else None,
            market_value=position.market_value if position.marked else None,
        )


@dataclass(frozen=True)
class MarkedHolding:
    account: str
    instrument_key: str
    symbol: str
    currency: str
    quantity: Decimal
    mark_price: Decimal | None
    market_value: Decimal | None
    mark_source: str | None  # "live", "flex_xml", or None when no source has a mark
    mark_as_of: datetime | None
    mark_age: timedelta | None
    # A live mark exists but is older than the allowed age, so it was not used (or is all there is).
    live_stale: bool
    live_age: timedelta | None


def _index(rows: Iterable[Holding]) -> dict[Key, Holding]:
    return {row.key: row for row in rows}


def _live_times(
    live: Mapping[Key, Holding], live_as_of: Mapping[str, datetime] | None
) -> dict[str, datetime]:
    """When each account's live snapshot was current: given, else its newest live row."""
    times: dict[str, datetime] = dict(live_as_of or {})
    for (account, _key), row in live.items():
        if account not in times or row.as_of > times[account]:
            times[account] = row.as_of
    return times


def _marked(row: Holding, *, now: datetime, live_row: Holding | None, live_stale: bool) -> MarkedHolding:
    has_mark = row.mark_price is not None
    return MarkedHolding(
        account=row.account,
        instrument_key=row.instrument_key,
        symbol=row.symbol,
        currency=row.currency,
        quantity=row.quantity,
        mark_price=row.mark_price,
        market_value=row.market_value,
        mark_source=row.source if has_mark else None,
        mark_as_of=row.as_of if has_mark else None,
        mark_age=now - row.as_of if has_mark else None,
        live_stale=live_stale,
        live_age=now - live_row.as_of if live_row is not None else None,
    )


def overlay_marks(
    live: Iterable[Holding],
    statement: Iterable[Holding],
    *,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
    live_as_of: Mapping[str, datetime] | None = None,
) -> list[MarkedHolding]:
    """Holdings with the freshest trustworthy mark.

    A fresh live row (mark younger than `max_age`) wins, quantity and mark. Otherwise the statement
    row is used and `live_stale` says a live mark was there but too old. A statement position that a
    fresh live snapshot of its account no longer lists was closed since: it is left out (see
    `reconcile`). `live_as_of` gives accounts whose live snapshot is empty its time."""
    live_rows = _index(live)
    statement_rows = _index(statement)
    snapshot_times = _live_times(live_rows, live_as_of)
    result: list[MarkedHolding] = []
    for key in sorted(live_rows.keys() | statement_rows.keys()):
        live_row, statement_row = live_rows.get(key), statement_rows.get(key)
        fresh_live = (
            live_row is not None and live_row.mark_price is not None and now - live_row.as_of <= max_age
        )
        if live_row is not None and fresh_live:
            result.append(_marked(live_row, now=now, live_row=live_row, live_stale=False))
        elif statement_row is not None:
            account_time = snapshot_times.get(key[0])
            if live_row is None and account_time is not None and now - account_time <= max_age:
                continue  # the fresh live snapshot no longer holds it: closed since the statement
            result.append(_marked(statement_row, now=now, live_row=live_row, live_stale=live_row is not None))
        elif live_row is not None:
            result.append(_marked(live_row, now=now, live_row=live_row, live_stale=True))
    return result


class DifferenceKind(StrEnum):
    OPENED = "opened"  # live holds it, the statement does not
    CLOSED = "closed"  # the statement holds it, live does not
    CHANGED = "changed"  # both hold it in different quantities


@dataclass(frozen=True)
class PositionDifference:
    account: str
    instrument_key: str
    symbol: str
    kind: DifferenceKind
    live_quantity: Decimal
    statement_quantity: Decimal
    difference: Decimal  # live - statement
    live_as_of: datetime | None
    statement_as_of: datetime | None


def reconcile(
    live: Iterable[Holding], statement: Iterable[Holding], *, accounts: Collection[str] | None = None
) -> list[PositionDifference]:
    """Positions whose quantity differs between live and the latest statement.

    Only accounts with a live view count (`accounts`, default: those in `live`): an account that
    is not connected is not "closed everywhere"."""
    live_rows = _index(live)
    statement_rows = _index(statement)
    covered = set(accounts) if accounts is not None else {account for account, _ in live_rows}
    differences: list[PositionDifference] = []
    for key in sorted(live_rows.keys() | statement_rows.keys()):
        if key[0] not in covered:
            continue
        live_row, statement_row = live_rows.get(key), statement_rows.get(key)
        live_qty = live_row.quantity if live_row else ZERO
        statement_qty = statement_row.quantity if statement_row else ZERO
        if live_qty == statement_qty:
            continue
        if statement_row is None or statement_qty == 0:
            kind = DifferenceKind.OPENED
        elif live_row is None or live_qty == 0:
            kind = DifferenceKind.CLOSED
        else:
            kind = DifferenceKind.CHANGED
        named = live_row or statement_row
        assert named is not None
        differences.append(
            PositionDifference(
                account=key[0],
                instrument_key=key[1],
                symbol=named.symbol,
                kind=kind,
                live_quantity=live_qty,
                statement_quantity=statement_qty,
                difference=live_qty - statement_qty,
                live_as_of=live_row.as_of if live_row else None,
                statement_as_of=statement_row.as_of if statement_row else None,
            )
        )
    return differences


def latest_holdings(session: Session, account_ids: Collection[int], source: str) -> list[Holding]:
    """The newest snapshot (latest as_of_date) of `source` for each of the given BrokerAccount ids."""
    if not account_ids:
        return []
    latest = (
        select(Position.account_id, func.max(Position.as_of_date).label("as_of_date"))
        .where(Position.account_id.in_(list(account_ids)), Position.source == source)
        .group_by(Position.account_id)
        .subquery()
    )
    stmt = (
        select(Position, Instrument.key, Instrument.symbol, BrokerAccount.external_account_id)
        .join(
            latest,
            and_(Position.account_id == latest.c.account_id, Position.as_of_date == latest.c.as_of_date),
        )
        .join(Instrument, Instrument.id == Position.instrument_id)
        .join(BrokerAccount, BrokerAccount.id == Position.account_id)
        .where(Position.source == source)
    )
    holdings = []
    for position, key, symbol, external_id in session.execute(stmt):
        holdings.append(
            Holding(
                account=external_id or str(position.account_id),
                instrument_key=key,
                symbol=symbol,
                quantity=position.quantity,
                currency=position.currency,
                as_of=position.as_of,
                source=source,
                mark_price=position.mark_price,
                market_value=position.market_value,
            )
        )
    return holdings


@dataclass(frozen=True)
class OverlayView:
    marks: list[MarkedHolding]
    differences: list[PositionDifference]


def overlay_view(
    session: Session,
    account_ids: Collection[int],
    *,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
    live: Iterable[Holding] | None = None,
) -> OverlayView:
    """Marks and differences for these accounts: the latest statement snapshot against `live`
    (e.g. `Holding.from_live` rows straight from the connection) or else the stored live snapshot."""
    statement_rows = latest_holdings(session, account_ids, STATEMENT)
    live_rows = list(live) if live is not None else latest_holdings(session, account_ids, LIVE)
    return OverlayView(
        marks=overlay_marks(live_rows, statement_rows, now=now, max_age=max_age),
        differences=reconcile(live_rows, statement_rows),
    )
