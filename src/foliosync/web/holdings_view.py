"""The holdings table and its summary figures, all in base currency.

`consolidated_holdings` gives market value in base currency but cost basis and unrealized P&L in
the instrument's own currency (as brokers report them). Mixing the two in one row, or adding CAD
P&L to USD P&L in a total, would be wrong; every figure here is converted with the holding's own
rate (market_value_base / market_value). Futures count at their open P&L, not their notional
(`foliosync.portfolio.allocation.equity_value`), in the totals and the weights alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from foliosync.portfolio.allocation import NOTIONAL_CATEGORIES, equity_value, latest_cash
from foliosync.portfolio.holdings import Holding

ZERO = Decimal(0)
WEIGHT_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class HoldingRow:
    holding: Holding
    cost_basis: Decimal | None  # base currency
    unrealized_pnl: Decimal | None  # base currency
    value: Decimal  # what it adds to the portfolio (equity_value)
    weight: Decimal  # share of the holdings' value

    @property
    def notional(self) -> bool:
        return self.holding.asset_category in NOTIONAL_CATEGORIES

    @property
    def pnl_fraction(self) -> Decimal | None:
        if self.cost_basis and self.unrealized_pnl is not None:
            return self.unrealized_pnl / abs(self.cost_basis)
        return None


@dataclass(frozen=True)
class Totals:
    market_value: Decimal
    cash: Decimal
    cost_basis: Decimal  # of the holdings with a known basis and P&L, futures excepted
    unrealized_pnl: Decimal

    @property
    def net_worth(self) -> Decimal:
        return self.market_value + self.cash

    @property
    def pnl_fraction(self) -> Decimal | None:
        return self.unrealized_pnl / abs(self.cost_basis) if self.cost_basis else None


def base_rate(holding: Holding) -> Decimal:
    return holding.market_value_base / holding.market_value if holding.market_value else Decimal(1)


def holding_rows(holdings: list[Holding]) -> list[HoldingRow]:
    values = [equity_value(h) for h in holdings]
    total = sum(values, ZERO)
    rows = []
    for holding, value in zip(holdings, values, strict=True):
        rate = base_rate(holding)
        rows.append(
            HoldingRow(
                holding=holding,
                cost_basis=None if holding.cost_basis is None else holding.cost_basis * rate,
                unrealized_pnl=None if holding.unrealized_pnl is None else holding.unrealized_pnl * rate,
                value=value,
                weight=(value / total).quantize(WEIGHT_QUANTUM) if total else ZERO,
            )
        )
    return rows


def totals(session: Session, rows: list[HoldingRow], account_ids: list[int]) -> Totals:
    with_basis = [
        r for r in rows if r.cost_basis is not None and r.unrealized_pnl is not None and not r.notional
    ]
    return Totals(
        market_value=sum((r.value for r in rows), ZERO),
        cash=sum(latest_cash(session, account_ids).values(), ZERO),
        cost_basis=sum((r.cost_basis or ZERO for r in with_basis), ZERO),
        unrealized_pnl=sum((r.unrealized_pnl for r in rows if r.unrealized_pnl is not None), ZERO),
    )
