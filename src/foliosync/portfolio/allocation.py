"""Allocation of a user's portfolio by asset class, by account and by sector.

Built on the same read model as the holdings table (each account's latest position snapshot, see
foliosync.portfolio.holdings) plus each account's latest cash balance, so the chart and the table
always agree. Values are in base currency; futures count at their open P&L, not their notional
(see `equity_value`).

A donut can only show positive parts. A group whose net value is negative (a short option, a
margin loan) is therefore kept apart in `negative`, and weights are shares of the positive total;
the page says what was left out instead of silently drawing a wrong picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.ledger.queries import owned_account_ids
from foliosync.models import Balance, BrokerAccount
from foliosync.portfolio.holdings import Holding, consolidated_holdings

ZERO = Decimal(0)
WEIGHT_QUANTUM = Decimal("0.000001")

Dimension = Literal["asset_class", "account", "sector"]
DIMENSIONS: tuple[Dimension, ...] = ("asset_class", "account", "sector")

CASH_KEY = "CASH_BALANCE"
CASH_LABEL = "Cash"
UNCLASSIFIED = "Unclassified"

ASSET_CLASS_LABELS = {
    "STK": "Stocks & ETFs",
    "OPT": "Options",
    "FUT": "Futures",
    "FOP": "Futures options",
    "CASH": "FX positions",
    "BOND": "Bonds",
    "FUND": "Mutual funds",
    "WAR": "Warrants",
    "IOPT": "Structured products",
    "CFD": "CFDs",
    "CRYPTO": "Crypto",
    "BILL": "T-bills",
    "CMDTY": "Commodities",
    "OTHER": "Other",
    CASH_KEY: CASH_LABEL,
}


@dataclass(frozen=True)
class Slice:
    key: str
    label: str
    value: Decimal
    weight: Decimal  # share of the positive total, 0..1


@dataclass
class Allocation:
    dimension: Dimension
    slices: list[Slice] = field(default_factory=list)  # positive groups, largest first
    negative: list[Slice] = field(default_factory=list)  # groups with a net value <= 0 (weight 0)

    @property
    def total(self) -> Decimal:
        """The positive total the weights are shares of."""
        return sum((s.value for s in self.slices), ZERO)

    @property
    def net_total(self) -> Decimal:
        return self.total + sum((s.value for s in self.negative), ZERO)


@dataclass(frozen=True)
class _Part:
    """One account's contribution to one group of every dimension."""

    account_key: str
    account_label: str
    asset_class: str
    sector: str
    value: Decimal


def latest_cash(session: Session, account_ids: Iterable[int]) -> dict[int, Decimal]:
    """Each account's cash on its newest balance date (statement/API sources, not live).

    The base-currency summary row ("BASE", IBKR EquitySummaryInBase) wins; otherwise the row in the
    account's base currency. Accounts without a balance are absent.
    """
    ids = list(account_ids)
    if not ids:
        return {}
    newest = (
        select(Balance.account_id, func.max(Balance.as_of_date).label("as_of_date"))
        .where(Balance.account_id.in_(ids), Balance.source != "live")
        .group_by(Balance.account_id)
        .subquery()
    )
    query = (
        select(Balance.account_id, Balance.currency, Balance.cash, BrokerAccount.base_currency)
        .join(
            newest,
            (newest.c.account_id == Balance.account_id) & (newest.c.as_of_date == Balance.as_of_date),
        )
        .join(BrokerAccount, BrokerAccount.id == Balance.account_id)
        .where(Balance.source != "live")
    )
    best: dict[int, tuple[int, Decimal]] = {}
    for account_id, currency, cash, base_currency in session.execute(query):
        if cash is None:
            continue
        rank = 2 if currency == "BASE" else 1 if currency == base_currency else 0
        if rank and (account_id not in best or rank > best[account_id][0]):
            best[account_id] = (rank, cash)
    return {account_id: cash for account_id, (_rank, cash) in best.items()}


NOTIONAL_CATEGORIES = frozenset({"FUT"})


def equity_value(holding: Holding) -> Decimal:
    """What a holding adds to the account's value, in base currency.

    A futures position's market value is its notional (IBKR's positionValue): exposure, not money
    the account has. Its variation margin settles daily, so what it adds is its open profit or
    loss, as in the broker's own net liquidation value. Everything else counts at market value.
    """
    if holding.asset_category not in NOTIONAL_CATEGORIES:
        return holding.market_value_base
    if holding.unrealized_pnl is None:
        return ZERO
    rate = holding.market_value_base / holding.market_value if holding.market_value else Decimal(1)
    return holding.unrealized_pnl * rate


def _holding_parts(account: BrokerAccount, holdings: list[Holding]) -> list[_Part]:
    label = account.alias or f"{account.broker} {account.external_account_id or account.id}"
    return [
        _Part(
            account_key=str(account.id),
            account_label=label,
            asset_class=h.asset_category,
            sector=h.sector or UNCLASSIFIED,
            value=equity_value(h),
        )
        for h in holdings
    ]


def _parts(session: Session, user_id: int, account_id: int | None, include_cash: bool) -> list[_Part]:
    ids = owned_account_ids(session, user_id, account_id)
    accounts = {a.id: a for a in session.scalars(select(BrokerAccount).where(BrokerAccount.id.in_(ids)))}
    parts: list[_Part] = []
    for aid in sorted(accounts):
        parts += _holding_parts(accounts[aid], consolidated_holdings(session, user_id, aid))
    if include_cash:
        for aid, cash in sorted(latest_cash(session, accounts).items()):
            account = accounts[aid]
            parts.append(_Part(str(aid), account.alias or account.broker, CASH_KEY, CASH_LABEL, cash))
    return parts


def _group(dimension: Dimension, parts: list[_Part]) -> Allocation:
    values: dict[str, Decimal] = {}
    labels: dict[str, str] = {}
    for part in parts:
        if dimension == "asset_class":
            key, label = part.asset_class, ASSET_CLASS_LABELS.get(part.asset_class, part.asset_class)
        elif dimension == "account":
            key, label = part.account_key, part.account_label
        else:
            key = label = part.sector
        values[key] = values.get(key, ZERO) + part.value
        labels[key] = label
    positive_total = sum((v for v in values.values() if v > 0), ZERO)
    result = Allocation(dimension)
    for key, value in sorted(values.items(), key=lambda kv: (-kv[1], labels[kv[0]])):
        if value > 0:
            weight = (value / positive_total).quantize(WEIGHT_QUANTUM)
            result.slices.append(Slice(key, labels[key], value, weight))
        else:
            result.negative.append(Slice(key, labels[key], value, ZERO))
    return result


def allocations(
    session: Session, user_id: int, account_id: int | None = None, *, include_cash: bool = True
) -> dict[Dimension, Allocation]:
    """Every dimension at once (one read of the holdings per account)."""
    parts = _parts(session, user_id, account_id, include_cash)
    return {dimension: _group(dimension, parts) for dimension in DIMENSIONS}


def allocation(
    session: Session,
    user_id: int,
    dimension: Dimension,
    account_id: int | None = None,
    *,
    include_cash: bool = True,
) -> Allocation:
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown allocation dimension {dimension!r}")
    return _group(dimension, _parts(session, user_id, account_id, include_cash))
