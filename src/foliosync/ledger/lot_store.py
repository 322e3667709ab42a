"""Rebuild an account's computed lots from its stored ledger rows (shared taxonomy.md §6.3).

Lots depend on the account's whole history, not on one file or one sync, so they are recomputed
from the database after every write: trades, corporate actions, transfers and option events of
one source are read back as canonical records, run through the FIFO engine (`ledger.lots`), and
stored with `source = computed`. Computed lots the new run no longer produces (an open lot that
has since been closed) are deleted; everything else is an idempotent upsert, so a rebuild over
unchanged data writes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from foliosync.db.upsert import UpsertCounts, UpsertReport
from foliosync.ledger.lots import LotResult, compute_lots
from foliosync.ledger.records import (
    Batch,
    CorporateActionRecord,
    InstrumentRef,
    OptionEventRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    Broker,
    CorporateActionKind,
    FlowScope,
    OptionEventKind,
    RecordStatus,
    SourceFormat,
    TradeKind,
    TransferDirection,
)
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, CorporateAction, Instrument, OptionEvent, TaxLot, Trade, Transfer

ACCOUNT = "account"  # the label records carry inside this module; mapped to the account id on write
_INSTRUMENT_FIELDS = [f.name for f in dataclasses.fields(InstrumentRef)]


def _instruments(session: Session, ids: set[int]) -> dict[int, InstrumentRef]:
    refs: dict[int, InstrumentRef] = {}
    if not ids:
        return refs
    for inst in session.scalars(select(Instrument).where(Instrument.id.in_(ids))):
        values: dict[str, Any] = {name: getattr(inst, name) for name in _INSTRUMENT_FIELDS}
        values["asset_category"] = AssetCategory.parse(inst.asset_category)
        refs[inst.id] = InstrumentRef(**values)
    return refs


def load_records(
    session: Session, account_id: int, source: str
) -> tuple[list[TradeRecord], list[CorporateActionRecord], list[TransferRecord], list[OptionEventRecord]]:
    """The account's stored rows of one source, as canonical records for the lot engine."""
    trades = session.scalars(
        select(Trade).where(Trade.account_id == account_id, Trade.source == source)
    ).all()
    actions = session.scalars(
        select(CorporateAction).where(
            CorporateAction.account_id == account_id, CorporateAction.source == source
        )
    ).all()
    transfers = session.scalars(
        select(Transfer).where(Transfer.account_id == account_id, Transfer.source == source)
    ).all()
    events = session.scalars(
        select(OptionEvent).where(OptionEvent.account_id == account_id, OptionEvent.source == source)
    ).all()
    ids = {t.instrument_id for t in trades} | {e.instrument_id for e in events}
    ids |= {a.instrument_id for a in actions if a.instrument_id} | {
        t.instrument_id for t in transfers if t.instrument_id
    }
    refs = _instruments(session, ids)
    trade_records = [
        TradeRecord(
            account=ACCOUNT,
            natural_key=t.natural_key,
            instrument=refs[t.instrument_id],
            kind=TradeKind(t.kind),
            side=t.side,
            trade_date=t.trade_date,
            quantity=t.quantity,
            price=t.price,
            gross_amount=t.gross_amount,
            net_amount=t.net_amount,
            currency=t.currency,
            executed_at=t.executed_at,
            status=RecordStatus(t.status),
            needs_review=t.needs_review,
        )
        for t in trades
    ]
    action_records = [
        CorporateActionRecord(
            account=ACCOUNT,
            natural_key=a.natural_key,
            kind=CorporateActionKind(a.kind),
            effective_date=a.effective_date,
            instrument=refs.get(a.instrument_id) if a.instrument_id else None,
            action_id=a.action_id,
            ratio=a.ratio,
            quantity=a.quantity,
            amount=a.amount,
            currency=a.currency,
            effect=dict(a.effect or {}),
            status=RecordStatus(a.status),
        )
        for a in actions
    ]
    transfer_records = [
        TransferRecord(
            account=ACCOUNT,
            natural_key=t.natural_key,
            direction=TransferDirection(t.direction),
            flow_scope=FlowScope(t.flow_scope),
            transfer_date=t.transfer_date,
            currency=t.currency,
            instrument=refs.get(t.instrument_id) if t.instrument_id else None,
            is_cash=t.is_cash,
            quantity=t.quantity,
            status=RecordStatus(t.status),
        )
        for t in transfers
    ]
    event_records = [
        OptionEventRecord(
            account=ACCOUNT,
            natural_key=e.natural_key,
            instrument=refs[e.instrument_id],
            kind=OptionEventKind(e.kind),
            event_date=e.event_date,
            quantity=e.quantity,
            option_trade_key=e.option_trade_key,
            underlying_trade_key=e.underlying_trade_key,
            status=RecordStatus(e.status),
        )
        for e in events
    ]
    return trade_records, action_records, transfer_records, event_records


def rebuild_computed_lots(
    session: Session, account: BrokerAccount, source: str
) -> tuple[LotResult, UpsertReport]:
    """Recompute and store the FIFO lots of one account from its rows of `source` (e.g. "csv")."""
    trades, actions, transfers, events = load_records(session, account.id, source)
    result = compute_lots(trades, actions, transfers, events)
    keys = {lot.natural_key for lot in result.lots}
    existing = session.scalars(
        select(TaxLot.natural_key).where(
            TaxLot.account_id == account.id, TaxLot.source == SourceFormat.COMPUTED.value
        )
    )
    stale = [key for key in existing if key not in keys]
    removed = 0
    for start in range(0, len(stale), 5000):  # bounded IN lists: SQLite caps bound variables
        chunk = stale[start : start + 5000]
        result_proxy: Any = session.execute(
            delete(TaxLot).where(
                TaxLot.account_id == account.id,
                TaxLot.source == SourceFormat.COMPUTED.value,
                TaxLot.natural_key.in_(chunk),
            )
        )
        removed += result_proxy.rowcount or 0
    batch = Batch(broker=Broker(account.broker), source=SourceFormat.COMPUTED, lots=result.lots)
    report = write_batch(session, batch, {ACCOUNT: account.id}, user_id=account.user_id, archive=False)
    if removed:
        report.add(TaxLot.__tablename__, UpsertCounts(updated=removed))
    return result, report
