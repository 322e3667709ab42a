"""Flex snapshots -> PositionRecords, open LotRecords and BalanceRecords.

* OpenPositions (ibkr.md §B.4): `SUMMARY` rows are the position snapshot; `LOT` rows are open tax
  lots (keyed per taxonomy §2.2 by reportDate, conid, originatingTransactionID, openDateTime).
  When a statement has LOT rows but no SUMMARY row for an instrument, the lots are summed into
  its position, so a LOT-only query still yields a snapshot. Other levels (`CONTRACT` in some
  files) are read as SUMMARY rows.
* Balances: EquitySummaryByReportDateInBase (daily NAV in base currency, currency "BASE"),
  CashReport (cash per currency, `BASE_SUMMARY` -> "BASE"), InterestAccruals and ChangeInNAV add
  their figures to the same (date, currency) balance. CashReport's starting cash and period go
  into `components` (`starting_cash`, `period_start`), which the reconciliation reads; futures
  variation margin (`cashSettlingMtm`) and FX translation have no ledger rows and go into
  `unrecorded_flows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from foliosync.brokers.ibkr.flex_parser import FlexRow
from foliosync.brokers.ibkr.flex_values import (
    attr_date,
    attr_datetime,
    attr_decimal,
    attr_text,
    clean,
    end_of_day_utc,
    first_date,
    to_decimal,
)
from foliosync.brokers.ibkr.normalize_context import FlexContext
from foliosync.db.types import canonical_decimal
from foliosync.ledger.records import BalanceRecord, InstrumentRef, LotRecord, PositionRecord
from foliosync.ledger.taxonomy import LotOrigin, LotStatus

ZERO = Decimal(0)
BASE = "BASE"
# Attributes that are identity or period, not money (skipped when copying figures into components).
_NOT_FIGURES = frozenset(
    {
        "accountId",
        "acctAlias",
        "model",
        "currency",
        "fromDate",
        "toDate",
        "reportDate",
        "levelOfDetail",
        "date",
        "twr",
    }
)
_VARIANT_SUFFIXES = ("Long", "Short", "MTD", "YTD", "Sec", "Com", "IBUKL", "Paxos")
# CashReport flows the ledger has no rows for (ibkr.md §B.4 CashReportCurrency).
UNRECORDED_FLOWS = ("cashSettlingMtm", "fxTranslationGainLoss")


def _currency(attrs: dict[str, str]) -> str:
    raw = (clean(attrs.get("currency")) or "").upper()
    if raw in ("BASE_SUMMARY", "") or (attrs.get("levelOfDetail") or "").strip() == "BaseCurrency":
        return BASE
    return raw[:8]


def _figures(attrs: dict[str, str], skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Non-zero money attributes, without their Long/Short/MTD/YTD/segment variants."""
    result: dict[str, str] = {}
    for name, raw in attrs.items():
        if name in _NOT_FIGURES or name in skip or name.endswith(_VARIANT_SUFFIXES):
            continue
        try:
            value = to_decimal(raw)
        except ValueError:
            continue
        if value:
            result[name] = canonical_decimal(value)
    return result


@dataclass
class _LotTotal:
    instrument: InstrumentRef
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    market_value: Decimal = ZERO
    unrealized: Decimal = ZERO
    mark: Decimal | None = None
    fx_rate: Decimal | None = None


@dataclass
class SnapshotCollector:
    """Positions and balances of one response, merged per (account, date, instrument/currency)."""

    positions: dict[tuple[str, date, str], PositionRecord] = field(default_factory=dict)
    lot_totals: dict[tuple[str, date, str], _LotTotal] = field(default_factory=dict)
    balances: dict[tuple[str, date, str], BalanceRecord] = field(default_factory=dict)

    def balance(self, account: str, as_of: date, currency: str) -> BalanceRecord:
        key = (account, as_of, currency)
        record = self.balances.get(key)
        if record is None:
            record = self.balances[key] = BalanceRecord(account=account, as_of_date=as_of, currency=currency)
        return record

    def finish(self) -> tuple[list[PositionRecord], list[BalanceRecord]]:
        positions = dict(self.positions)
        for key, total in self.lot_totals.items():
            if key not in positions:
                positions[key] = PositionRecord(
                    account=key[0],
                    instrument=total.instrument,
                    as_of_date=key[1],
                    as_of=end_of_day_utc(key[1]),
                    quantity=total.quantity,
                    currency=total.instrument.currency,
                    cost_basis=total.cost_basis,
                    mark_price=total.mark,
                    market_value=total.market_value,
                    unrealized_pnl=total.unrealized,
                    fx_rate_to_base=total.fx_rate,
                )
        return list(positions.values()), list(self.balances.values())


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return b if a is None else a if b is None else a + b


def normalize_open_position(row: FlexRow, ctx: FlexContext, snapshots: SnapshotCollector) -> None:
    a = row.attrs
    instrument = ctx.instruments.from_row(a)
    quantity = attr_decimal(a, "position")
    as_of = attr_date(a, "reportDate") or ctx.statement.to_date
    if instrument is None or quantity is None or as_of is None:
        ctx.ignore("OpenPositions/incomplete")
        return
    level = (a.get("levelOfDetail") or "SUMMARY").strip().upper()
    key = (ctx.account, as_of, instrument.key)
    cost = attr_decimal(a, "costBasisMoney")
    value = attr_decimal(a, "positionValue")
    unrealized = attr_decimal(a, "fifoPnlUnrealized")
    mark = attr_decimal(a, "markPrice")
    fx_rate = attr_decimal(a, "fxRateToBase")
    if level == "LOT":
        _open_lot(row, ctx, instrument, quantity, as_of, cost)
        total = snapshots.lot_totals.setdefault(key, _LotTotal(instrument))
        total.quantity += quantity
        total.cost_basis += cost or ZERO
        total.market_value += value or ZERO
        total.unrealized += unrealized or ZERO
        total.mark = mark if mark is not None else total.mark
        total.fx_rate = fx_rate if fx_rate is not None else total.fx_rate
        return
    existing = snapshots.positions.get(key)
    if existing is not None:  # several CONTRACT rows of one instrument: one position
        existing.quantity += quantity
        existing.cost_basis = _add(existing.cost_basis, cost)
        existing.market_value = _add(existing.market_value, value)
        existing.unrealized_pnl = _add(existing.unrealized_pnl, unrealized)
        return
    snapshots.positions[key] = PositionRecord(
        account=ctx.account,
        instrument=instrument,
        as_of_date=as_of,
        as_of=end_of_day_utc(as_of),
        quantity=quantity,
        currency=instrument.currency,
        cost_basis=cost,
        mark_price=mark,
        market_value=value,
        unrealized_pnl=unrealized,
        fx_rate_to_base=fx_rate,
    )


def _open_lot(
    row: FlexRow,
    ctx: FlexContext,
    instrument: InstrumentRef,
    quantity: Decimal,
    as_of: date,
    cost: Decimal | None,
) -> None:
    a = row.attrs
    origin_txid = attr_text(a, "originatingTransactionID")
    opened_raw = clean(a.get("openDateTime"))
    opened_at = attr_datetime(a, "openDateTime")
    if origin_txid is not None or opened_at is not None:
        ident = instrument.conid or instrument.key
        key = f"lot:{as_of.isoformat()}:{ident}:{origin_txid or ''}:{opened_at.isoformat() if opened_at else ''}"
    else:
        key = ctx.fallback_key(
            "open_lot", as_of, "OPEN_LOT", opened_raw or "", instrument, quantity=quantity, amount=cost
        )
    ctx.batch.lots.append(
        LotRecord(
            account=ctx.account,
            natural_key=key[:160],
            instrument=instrument,
            lot_status=LotStatus.OPEN,
            origin=LotOrigin.BROKER,
            quantity=quantity,
            currency=instrument.currency,
            cost_basis=cost,
            as_of_date=as_of,
            opened_at=opened_at,
            open_date=first_date(a, "openDateTime"),
            opening_trade_key=origin_txid,
            raw_type="LOT",
            description=attr_text(a, "description"),
        )
    )


def normalize_equity_summary(row: FlexRow, ctx: FlexContext, snapshots: SnapshotCollector) -> None:
    a = row.attrs
    as_of = attr_date(a, "reportDate") or ctx.statement.to_date
    if as_of is None:
        return
    record = snapshots.balance(ctx.account, as_of, BASE)
    record.net_liquidation = attr_decimal(a, "total")
    record.cash = record.cash if record.cash is not None else attr_decimal(a, "cash")
    record.components.update(_figures(a, frozenset({"total", "cash"})))


def normalize_cash_report(row: FlexRow, ctx: FlexContext, snapshots: SnapshotCollector) -> None:
    a = row.attrs
    as_of = attr_date(a, "toDate") or ctx.statement.to_date
    if as_of is None:
        return
    currency = _currency(a)
    record = snapshots.balance(ctx.account, as_of, currency)
    ending = attr_decimal(a, "endingCash")
    if ending is not None:
        record.cash = ending  # the cash report is the authority for cash; NAV stays from EquitySummary
    figures = _figures(a, frozenset({"startingCash", "endingCash", "endingSettledCash"}))
    record.components.update(figures)
    starting = attr_decimal(a, "startingCash")
    period_start = attr_date(a, "fromDate") or ctx.statement.from_date
    if starting is not None and period_start is not None:
        record.components["starting_cash"] = canonical_decimal(starting)
        record.components["period_start"] = period_start.isoformat()
    settled = attr_decimal(a, "endingSettledCash")
    if settled is not None:
        record.components["ending_settled_cash"] = canonical_decimal(settled)
    unrecorded = sum((Decimal(figures.get(name, "0")) for name in UNRECORDED_FLOWS), ZERO)
    if unrecorded:
        record.components["unrecorded_flows"] = canonical_decimal(unrecorded)


def normalize_interest_accrual(row: FlexRow, ctx: FlexContext, snapshots: SnapshotCollector) -> None:
    a = row.attrs
    as_of = attr_date(a, "toDate") or ctx.statement.to_date
    if as_of is None:
        return
    record = snapshots.balance(ctx.account, as_of, _currency(a))
    for name, target in (
        ("endingAccrualBalance", "interest_accrual"),
        ("interestAccrued", "interest_accrued"),
    ):
        value = attr_decimal(a, name)
        if value:
            record.components[target] = canonical_decimal(value)


def normalize_change_in_nav(row: FlexRow, ctx: FlexContext, snapshots: SnapshotCollector) -> None:
    a = row.attrs
    as_of = attr_date(a, "toDate") or ctx.statement.to_date
    ending = attr_decimal(a, "endingValue")
    if as_of is None or ending is None:
        return
    record = snapshots.balance(ctx.account, as_of, BASE)
    if record.net_liquidation is None:
        record.net_liquidation = ending
    starting = attr_decimal(a, "startingValue")
    if starting is not None:
        record.components["starting_value"] = canonical_decimal(starting)
