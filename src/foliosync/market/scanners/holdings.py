"""The holdings scan: for each position a user holds, its ATR and an ATR-based stop.

Stop rule (documented in docs/market.md): a long position's stop sits `multiple` ATR(14) below the
last close, a short's `multiple` ATR above it; default multiple 2 (marketdata.md F.4 suggests
1.5-2). `distance` is close-to-stop per share, `distance_pct` the same in % of the close, and
`risk_amount` what the stop would cost on the whole position (|quantity| x multiplier x distance),
for stocks and funds. Options are measured on their underlying; their risk amount is left out
because it depends on the option's delta.
Indicator floats are turned into Decimals rounded to 4 places (money amounts to cents).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.market.indicators.snapshot import compute_snapshot
from foliosync.market.prices.store import load_series
from foliosync.market.scanners.universe import held_positions
from foliosync.models import DailyPrice

FOUR = Decimal("0.0001")
# Kinds whose own price moves one for one with the bars: their risk amount is quantity x distance.
_OWN_RISK = frozenset({"STK", "FUND"})
CENT = Decimal("0.01")


@dataclass(frozen=True)
class HoldingRisk:
    account_id: int
    account: str
    symbol: str
    bar_symbol: str | None
    asset_category: str
    quantity: Decimal
    as_of: date | None
    close: Decimal | None
    atr_14: Decimal | None
    atr_pct: Decimal | None
    stop: Decimal | None
    distance: Decimal | None
    distance_pct: Decimal | None
    risk_amount: Decimal | None
    note: str | None


def _decimal(value: float, quantum: Decimal = FOUR) -> Decimal | None:
    if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def _last_closes(session: Session, symbols: list[str]) -> dict[str, tuple[date, Decimal]]:
    """The exact stored close of each symbol's newest bar."""
    if not symbols:
        return {}
    newest = (
        select(DailyPrice.symbol, func.max(DailyPrice.bar_date).label("bar_date"))
        .where(DailyPrice.symbol.in_(symbols))
        .group_by(DailyPrice.symbol)
        .subquery()
    )
    query = select(DailyPrice.symbol, DailyPrice.bar_date, DailyPrice.close).join(
        newest, (DailyPrice.symbol == newest.c.symbol) & (DailyPrice.bar_date == newest.c.bar_date)
    )
    return {symbol: (day, close) for symbol, day, close in session.execute(query)}


def holdings_scan(session: Session, user_id: int, *, multiple: Decimal = Decimal(2)) -> list[HoldingRisk]:
    positions = held_positions(session, user_id)
    symbols = sorted({p.bar_symbol for p in positions if p.bar_symbol})
    series = load_series(session, symbols)
    table = compute_snapshot([series[s] for s in sorted(series)])
    closes = _last_closes(session, symbols)
    result: list[HoldingRisk] = []
    for p in positions:
        note: str | None = None
        at = table.position(p.bar_symbol) if p.bar_symbol else None
        if p.bar_symbol is None:
            note = f"no daily bars for {p.asset_category} instruments"
        elif at is None:
            note = f"no bars stored for {p.bar_symbol}; run: foliosync market refresh --prices"
        atr = _decimal(float(table.fields["atr_14"][at])) if at is not None else None
        atr_pct = _decimal(float(table.fields["atr_pct"][at])) if at is not None else None
        day, close = closes.get(p.bar_symbol or "", (None, None))
        stop = distance = distance_pct = risk = None
        if at is not None and atr is None:
            note = "fewer than 15 bars: ATR(14) not available yet"
        if close is not None and atr is not None:
            distance = (multiple * atr).quantize(FOUR)
            stop = close - distance if p.quantity > 0 else close + distance
            distance_pct = (distance / close * 100).quantize(FOUR) if close else None
            if p.asset_category in _OWN_RISK:
                risk = (abs(p.quantity) * p.multiplier * distance).quantize(CENT, rounding=ROUND_HALF_UP)
            else:
                note = f"option: ATR and stop refer to the underlying {p.bar_symbol}"
        result.append(
            HoldingRisk(
                account_id=p.account_id,
                account=p.account_label,
                symbol=p.instrument_symbol,
                bar_symbol=p.bar_symbol,
                asset_category=p.asset_category,
                quantity=p.quantity,
                as_of=day,
                close=close,
                atr_14=atr,
                atr_pct=atr_pct,
                stop=stop,
                distance=distance,
                distance_pct=distance_pct,
                risk_amount=risk,
                note=note,
            )
        )
    return result
