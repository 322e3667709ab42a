"""One list of everything that happened (trades, cash, transfers), newest first, for the
transactions table. Built on `foliosync.ledger.queries.list_records`, which already scopes every
read to the user and filters by account, date range, kind and symbol.

The three families are paged separately by the ledger; to show page p of the merged list, the
first p x page_size rows of each family are read and merged by date. That bounds the deepest page
at 1,000 rows per family (the ledger's page limit), which the page says when it is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from foliosync.ledger.queries import list_records
from foliosync.ledger.taxonomy import CashKind, TradeKind, TransferDirection

MAX_DEPTH = 1000

KINDS_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "trades": tuple(k.value for k in TradeKind),
    "cash": tuple(k.value for k in CashKind),
    "transfers": tuple(d.value for d in TransferDirection),
}
FAMILY_ORDER = {"trades": 0, "cash": 1, "transfers": 2}


@dataclass(frozen=True)
class ActivityRow:
    day: date
    family: str
    kind: str
    account_id: int
    symbol: str | None
    asset_category: str | None
    description: str | None
    quantity: Decimal | None
    price: Decimal | None
    amount: Decimal | None  # signed: money into the account is positive
    currency: str
    status: str
    record_id: int


@dataclass(frozen=True)
class ActivityPage:
    rows: list[ActivityRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        reachable = max(MAX_DEPTH // self.page_size, 1)
        return min(max((self.total + self.page_size - 1) // self.page_size, 1), reachable)

    @property
    def truncated(self) -> bool:
        return self.total > MAX_DEPTH


def kind_choices() -> list[tuple[str, list[str]]]:
    """(group label, kinds) for the filter's select, in the order people look for them."""
    return [
        ("Trades", list(KINDS_BY_FAMILY["trades"])),
        ("Cash", list(KINDS_BY_FAMILY["cash"])),
        ("Transfers", list(KINDS_BY_FAMILY["transfers"])),
    ]


def kind_label(kind: str) -> str:
    """DIVIDEND -> 'Dividend', PAYMENT_IN_LIEU -> 'Payment in lieu'."""
    return kind.replace("_", " ").capitalize()


def _row(family: str, item: dict[str, Any]) -> ActivityRow:
    if family == "trades":
        return ActivityRow(
            day=item["trade_date"],
            family=family,
            kind=item["kind"],
            account_id=item["account_id"],
            symbol=item.get("symbol"),
            asset_category=item.get("asset_category"),
            description=item.get("description"),
            quantity=item["quantity"],
            price=item["price"],
            amount=item["net_amount"],
            currency=item["currency"],
            status=item["status"],
            record_id=item["id"],
        )
    if family == "cash":
        return ActivityRow(
            day=item["posted_date"],
            family=family,
            kind=item["kind"],
            account_id=item["account_id"],
            symbol=item.get("symbol"),
            asset_category=item.get("asset_category"),
            description=item.get("description"),
            quantity=None,
            price=None,
            amount=item["amount"],
            currency=item["currency"],
            status=item["status"],
            record_id=item["id"],
        )
    value = item.get("value")
    if value is not None and item["direction"] == TransferDirection.OUT.value:
        value = -abs(value)
    return ActivityRow(
        day=item["transfer_date"],
        family=family,
        kind=item["direction"],
        account_id=item["account_id"],
        symbol=item.get("symbol"),
        asset_category=item.get("asset_category"),
        description=item.get("description") or item.get("transfer_type"),
        quantity=item.get("quantity"),
        price=None,
        amount=value,
        currency=item["currency"],
        status=item["status"],
        record_id=item["id"],
    )


def activity(
    session: Session,
    user_id: int,
    *,
    account_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    kind: str | None = None,
    symbol: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> ActivityPage:
    kind = kind.upper() if kind else None
    families = [f for f, kinds in KINDS_BY_FAMILY.items() if kind is None or kind in kinds]
    page = max(1, min(page, max(MAX_DEPTH // page_size, 1)))
    depth = min(page * page_size, MAX_DEPTH)
    rows: list[ActivityRow] = []
    total = 0
    for family in families:
        result = list_records(
            session,
            user_id,
            family,
            account_id=account_id,
            start=start,
            end=end,
            kind=kind,
            symbol=symbol or None,
            page=1,
            page_size=depth,
        )
        total += result.total
        rows += [_row(family, item) for item in result.items]
    rows.sort(key=lambda r: (r.day, -FAMILY_ORDER[r.family], r.record_id), reverse=True)
    offset = (page - 1) * page_size
    return ActivityPage(rows=rows[offset : offset + page_size], total=total, page=page, page_size=page_size)
