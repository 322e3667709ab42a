"""/api/v1/live: the IBKR live overlay through TWS / IB Gateway.

One connection serves the whole install (`request.app.state.live`, started on first use). Every
answer is scoped to the caller: positions and account figures only for the managed accounts that
are one of the caller's IBKR BrokerAccounts (matched on `external_account_id`). Managed accounts
nobody has added yet are offered under `unlinked_accounts`.

Handlers are plain `def`: the connection's methods block, so FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.api.deps import current_user, db_session
from foliosync.brokers.ibkr.live import (
    MAX_QUOTE_SYMBOLS,
    AccountValueRow,
    LiveConnection,
    LivePosition,
    LiveUnavailable,
    Quote,
    ensure_live_connection,
)
from foliosync.brokers.ibkr.live_records import BASE_FIELDS, base_currency
from foliosync.brokers.ibkr.overlay import Holding, overlay_view
from foliosync.errors import ValidationFailed
from foliosync.ledger.taxonomy import Broker
from foliosync.models import BrokerAccount, User

router = APIRouter(prefix="/api/v1/live", tags=["live"])


def live_connection(request: Request) -> LiveConnection:
    return ensure_live_connection(request.app)


class LinkedAccountOut(BaseModel):
    account_id: int
    external_account_id: str
    alias: str


class LiveStatusOut(BaseModel):
    state: str
    connected: bool
    message: str
    since: datetime
    host: str
    port: int
    client_id: int
    readonly: bool
    server_version: int | None
    market_data: str  # "live", or "delayed-where-unsubscribed" after an error 354
    next_retry_at: datetime | None
    warnings: list[str]
    linked_accounts: list[LinkedAccountOut]
    unlinked_accounts: list[str]


class LivePositionOut(BaseModel):
    account_id: int
    external_account_id: str
    con_id: int
    symbol: str
    sec_type: str
    currency: str
    quantity: Decimal
    average_cost: Decimal | None
    cost_basis: Decimal | None
    market_price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal | None
    as_of: datetime
    age_seconds: float


class AccountSummaryOut(BaseModel):
    account_id: int
    external_account_id: str
    currency: str | None
    net_liquidation: Decimal | None
    cash: Decimal | None
    buying_power: Decimal | None
    maintenance_margin: Decimal | None
    values: dict[str, str]


class LivePositionsOut(BaseModel):
    state: str
    stale: bool  # True when these are the last figures received, not streaming ones
    as_of: datetime
    positions: list[LivePositionOut]
    accounts: list[AccountSummaryOut]


class QuoteOut(BaseModel):
    symbol: str
    con_id: int | None
    currency: str | None
    price: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    close: Decimal | None
    time: datetime | None
    delayed: bool
    market_data_type: int | None
    error: str | None


class QuotesOut(BaseModel):
    connected: bool
    # Why there are no prices when TWS/IB Gateway is not connected (each quote repeats it as its error).
    message: str | None
    quotes: list[QuoteOut]


def _linked_accounts(session: Session, user: User) -> dict[str, BrokerAccount]:
    """The caller's IBKR accounts by account number."""
    rows = session.scalars(
        select(BrokerAccount).where(
            BrokerAccount.user_id == user.id,
            BrokerAccount.broker == Broker.IBKR.value,
            BrokerAccount.external_account_id.is_not(None),
        )
    )
    return {a.external_account_id: a for a in rows if a.external_account_id}


def _claimed_account_numbers(session: Session, numbers: list[str]) -> set[str]:
    """Which of these IBKR account numbers some user (any user) has added already."""
    if not numbers:
        return set()
    found = session.scalars(
        select(BrokerAccount.external_account_id).where(
            BrokerAccount.broker == Broker.IBKR.value, BrokerAccount.external_account_id.in_(numbers)
        )
    )
    return {n for n in found if n}


def _visible(live: LiveConnection, session: Session, user: User) -> dict[str, BrokerAccount]:
    """The managed accounts this caller may see, with their BrokerAccount."""
    linked = _linked_accounts(session, user)
    return {number: linked[number] for number in live.managed_accounts() if number in linked}


@router.get("/status", response_model=LiveStatusOut)
def live_status(
    user: User = Depends(current_user),  # first: an anonymous request must not start the connection
    session: Session = Depends(db_session),
    live: LiveConnection = Depends(live_connection),
) -> LiveStatusOut:
    status = live.status()
    managed = list(status.managed_accounts) or live.managed_accounts()
    visible = _visible(live, session, user)
    claimed = _claimed_account_numbers(session, managed)
    return LiveStatusOut(
        state=status.state.value,
        connected=status.connected,
        message=status.message,
        since=status.since,
        host=status.host,
        port=status.port,
        client_id=status.client_id,
        readonly=status.readonly,
        server_version=status.server_version,
        market_data="live" if status.market_data_type == 1 else "delayed-where-unsubscribed",
        next_retry_at=status.next_retry_at,
        warnings=list(status.warnings),
        linked_accounts=[
            LinkedAccountOut(account_id=a.id, external_account_id=number, alias=a.alias)
            for number, a in visible.items()
        ],
        # The gateway is the operator's: only an administrator is shown account numbers nobody added yet.
        unlinked_accounts=[number for number in managed if number not in claimed] if user.is_admin else [],
    )


def _position_out(position: LivePosition, account: BrokerAccount, now: datetime) -> LivePositionOut:
    return LivePositionOut(
        account_id=account.id,
        external_account_id=position.account,
        con_id=position.contract.con_id,
        symbol=position.contract.display_symbol,
        sec_type=position.contract.sec_type,
        currency=position.contract.currency,
        quantity=position.quantity,
        average_cost=position.average_cost,
        cost_basis=position.cost_basis,
        market_price=position.market_price,
        market_value=position.market_value,
        unrealized_pnl=position.unrealized_pnl,
        realized_pnl=position.realized_pnl,
        as_of=position.as_of,
        age_seconds=max(0.0, (now - position.as_of).total_seconds()),
    )


def _summary_out(number: str, account: BrokerAccount, rows: list[AccountValueRow]) -> AccountSummaryOut:
    currency = base_currency(rows)
    base = {r.tag: r.amount for r in rows if r.tag in BASE_FIELDS and r.currency in (currency, "")}
    return AccountSummaryOut(
        account_id=account.id,
        external_account_id=number,
        currency=currency,
        net_liquidation=base.get("NetLiquidation"),
        cash=base.get("TotalCashValue"),
        buying_power=base.get("BuyingPower"),
        maintenance_margin=base.get("MaintMarginReq"),
        values={f"{r.tag}:{r.currency}" if r.currency else r.tag: r.value for r in rows},
    )


@router.get("/positions", response_model=LivePositionsOut)
def live_positions(
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    live: LiveConnection = Depends(live_connection),
) -> LivePositionsOut:
    status = live.status()
    visible = _visible(live, session, user)
    now = datetime.now(UTC)
    positions = live.positions(visible.keys()) if visible else []
    rows = live.account_summary(visible.keys()) if visible else []
    return LivePositionsOut(
        state=status.state.value,
        stale=not status.connected,
        as_of=live.data_as_of(),
        positions=[_position_out(p, visible[p.account], now) for p in positions],
        accounts=[
            _summary_out(number, account, [r for r in rows if r.account == number])
            for number, account in visible.items()
        ],
    )


def _quote_out(quote: Quote) -> QuoteOut:
    return QuoteOut(**{name: getattr(quote, name) for name in QuoteOut.model_fields})


def _quotes_out(fetch: Callable[[], list[Quote]], symbols: list[str]) -> QuotesOut:
    """An unreachable or slow gateway is an answer, not a server error: every quote says why."""
    try:
        return QuotesOut(connected=True, message=None, quotes=[_quote_out(q) for q in fetch()])
    except LiveUnavailable as exc:
        text = str(exc)
        return QuotesOut(
            connected=False, message=text, quotes=[_quote_out(Quote.failed(s, text)) for s in symbols]
        )


@router.get("/quotes", response_model=QuotesOut)
def live_quotes(
    symbols: str | None = Query(
        default=None,
        max_length=2000,
        description="Comma-separated tickers (e.g. AAPL,BRK.B). Without it: the caller's live holdings.",
    ),
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    live: LiveConnection = Depends(live_connection),
) -> QuotesOut:
    if symbols is None:
        visible = _visible(live, session, user)
        if not visible:
            return QuotesOut(connected=live.status().connected, message=None, quotes=[])
        return _quotes_out(lambda: live.held_quotes(visible.keys()), [])
    wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if not wanted:
        raise ValidationFailed("No symbols given.", hint="Pass ?symbols=AAPL,MSFT.")
    if len(wanted) > MAX_QUOTE_SYMBOLS:
        raise ValidationFailed(
            f"Too many symbols ({len(wanted)}).", hint=f"Ask for at most {MAX_QUOTE_SYMBOLS} per request."
        )
    bad = [
        s for s in wanted if len(s) > 24 or not all((c.isascii() and c.isalnum()) or c in ". -/" for c in s)
    ]
    if bad:
        raise ValidationFailed(
            f"Not a ticker symbol: {', '.join(bad)}.", hint="Use symbols such as AAPL or BRK.B."
        )
    return _quotes_out(lambda: live.quotes(wanted), wanted)


class MarkOut(BaseModel):
    account_id: int
    external_account_id: str
    instrument_key: str
    symbol: str
    currency: str
    quantity: Decimal
    mark_price: Decimal | None
    market_value: Decimal | None
    mark_source: str | None  # "live" while fresh, else "flex_xml" (the statement)
    mark_as_of: datetime | None
    mark_age_seconds: float | None
    live_stale: bool


class DifferenceOut(BaseModel):
    account_id: int
    external_account_id: str
    instrument_key: str
    symbol: str
    kind: str  # opened / closed / changed since the last statement
    live_quantity: Decimal
    statement_quantity: Decimal
    difference: Decimal


class OverlayOut(BaseModel):
    connected: bool
    max_age_seconds: float
    marks: list[MarkOut]
    differences: list[DifferenceOut]


@router.get("/overlay", response_model=OverlayOut)
def live_overlay(
    max_age_minutes: int = Query(default=15, ge=1, le=1440),
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    live: LiveConnection = Depends(live_connection),
) -> OverlayOut:
    """The statement history with live marks laid over it while they are fresh (their age shown),
    statement marks otherwise; and the positions that differ between live and the last statement
    (trades made since, for example)."""
    linked = _linked_accounts(session, user)
    now = datetime.now(UTC)
    live_rows = [Holding.from_live(p) for p in live.positions(list(linked))] if linked else []
    view = overlay_view(
        session,
        [a.id for a in linked.values()],
        now=now,
        max_age=timedelta(minutes=max_age_minutes),
        live=live_rows,
    )
    return OverlayOut(
        connected=live.status().connected,
        max_age_seconds=max_age_minutes * 60.0,
        marks=[
            MarkOut(
                account_id=linked[m.account].id,
                external_account_id=m.account,
                instrument_key=m.instrument_key,
                symbol=m.symbol,
                currency=m.currency,
                quantity=m.quantity,
                mark_price=m.mark_price,
                market_value=m.market_value,
                mark_source=m.mark_source,
                mark_as_of=m.mark_as_of,
                mark_age_seconds=m.mark_age.total_seconds() if m.mark_age is not None else None,
                live_stale=m.live_stale,
            )
            for m in view.marks
            if m.account in linked
        ],
        differences=[
            DifferenceOut(
                account_id=linked[d.account].id,
                external_account_id=d.account,
                instrument_key=d.instrument_key,
                symbol=d.symbol,
                kind=d.kind.value,
                live_quantity=d.live_quantity,
                statement_quantity=d.statement_quantity,
                difference=d.difference,
            )
            for d in view.differences
            if d.account in linked
        ],
    )
