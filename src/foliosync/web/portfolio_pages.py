"""The portfolio page (holdings, allocation, income), the transactions page and the demo buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from foliosync.accounts.service import list_accounts
from foliosync.api.deps import app_settings, db_session
from foliosync.config import Settings
from foliosync.demo import is_demo, load_demo, remove_demo
from foliosync.errors import NotFoundError
from foliosync.models import BrokerAccount, User
from foliosync.portfolio.allocation import DIMENSIONS, Allocation, allocations
from foliosync.portfolio.holdings import consolidated_holdings
from foliosync.portfolio.income import IncomeReport, monthly_income
from foliosync.web.activity import activity, kind_choices, kind_label
from foliosync.web.brokers_view import broker_name
from foliosync.web.charts import IncomeBar, donut, donut_slices, income_bars
from foliosync.web.holdings_view import holding_rows, totals
from foliosync.web.routing import PageRoute
from foliosync.web.session import check_csrf, flash, page_user, redirect
from foliosync.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# A select's "All accounts" option submits `account=` (empty): read the value as text.
AccountQuery = Annotated[str | None, Query(max_length=12)]
DIMENSION_TITLES = {"asset_class": "By asset class", "account": "By account", "sector": "By sector"}
LINKABLE = ("STK", "FUND")


def _pick_account(accounts: list[BrokerAccount], raw_id: str | None) -> BrokerAccount | None:
    """The chosen account; empty means all of them; anything not the user's is a 404."""
    if not raw_id or not raw_id.strip():
        return None
    for account in accounts:
        if str(account.id) == raw_id.strip():
            return account
    raise NotFoundError("No such account.", hint="Pick one of your accounts from the list.")


def _allocation_charts(allocs: dict[Any, Allocation]) -> list[dict[str, Any]]:
    charts = []
    for dimension in DIMENSIONS:
        alloc = allocs[dimension]
        slices = donut_slices([(s.label, s.value, s.weight) for s in alloc.slices])
        charts.append(
            {
                "dimension": dimension,
                "title": DIMENSION_TITLES[dimension],
                "svg": donut(
                    slices,
                    chart_id=f"alloc-{dimension}",
                    title=f"Allocation {DIMENSION_TITLES[dimension].lower()}",
                    center_label="net total",
                    total=alloc.net_total,
                ),
                "slices": slices,
                "negative": alloc.negative,
            }
        )
    return charts


def _income_chart(report: IncomeReport) -> Any:
    bars = [
        IncomeBar(
            label=m.month.strftime("%b"),
            long_label=m.month.strftime("%B %Y"),
            net=m.net,
            withheld=-m.withholding,
        )
        for m in report.months
    ]
    return income_bars(bars, chart_id="income", title="Dividend income per month, net of withholding tax")


@router.get("/")
@router.get("/portfolio")
def portfolio_page(
    request: Request,
    account: AccountQuery = None,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    accounts = list_accounts(session, user)
    if not accounts:
        return render(request, settings, "portfolio_empty.html", {}, user=user, active="portfolio")
    selected = _pick_account(accounts, account)
    account_id = selected.id if selected else None
    scope = [selected.id] if selected else [a.id for a in accounts]
    holdings = consolidated_holdings(session, user.id, account_id)
    today = datetime.now(UTC).date()
    income = monthly_income(session, user.id, end=today, months=12, account_id=account_id)
    recent = activity(session, user.id, account_id=account_id, page_size=8)
    rows = holding_rows(holdings)
    context = {
        "accounts": accounts,
        "selected": selected,
        "rows": rows,
        "linkable": LINKABLE,
        "totals": totals(session, rows, scope),
        "charts": _allocation_charts(allocations(session, user.id, account_id)),
        "income": income,
        "income_chart": _income_chart(income),
        "recent": recent.rows,
        "account_names": {a.id: a.alias for a in accounts},
        "kind_label": kind_label,
        "has_demo": any(is_demo(a) for a in accounts),
        "broker_name": broker_name,
        "now": datetime.now(UTC),
    }
    return render(request, settings, "portfolio.html", context, user=user, active="portfolio")


@dataclass(frozen=True)
class TransactionFilters:
    account: int | None
    start: date | None
    end: date | None
    kind: str | None
    symbol: str | None

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the pager's links)."""
        values = {
            "account": str(self.account) if self.account else None,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "kind": self.kind,
            "symbol": self.symbol,
        }
        return {k: v for k, v in values.items() if v}


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/transactions")
def transactions_page(
    request: Request,
    account: AccountQuery = None,
    start: str | None = Query(default=None, max_length=10),
    end: str | None = Query(default=None, max_length=10),
    kind: str | None = Query(default=None, max_length=32),
    symbol: str | None = Query(default=None, max_length=64),
    page: int = Query(default=1, ge=1, le=1000),
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    accounts = list_accounts(session, user)
    selected = _pick_account(accounts, account)
    filters = TransactionFilters(
        account=selected.id if selected else None,
        start=_parse_date(start),
        end=_parse_date(end),
        kind=(kind or "").upper() or None,
        symbol=(symbol or "").strip().upper() or None,
    )
    result = activity(
        session,
        user.id,
        account_id=filters.account,
        start=filters.start,
        end=filters.end,
        kind=filters.kind,
        symbol=filters.symbol,
        page=page,
    )
    context = {
        "accounts": accounts,
        "filters": filters,
        "query": filters.query(),
        "result": result,
        "kinds": kind_choices(),
        "kind_label": kind_label,
        "account_names": {a.id: a.alias for a in accounts},
        "bad_dates": bool(start and not filters.start) or bool(end and not filters.end),
    }
    return render(request, settings, "transactions.html", context, user=user, active="transactions")


@router.post("/demo")
async def demo_load(
    request: Request,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    await check_csrf(request, settings, user)
    summary = load_demo(session, user)
    session.commit()
    records = sum(a.records for a in summary.accounts)
    flash(
        request,
        settings,
        "ok",
        f"Demo loaded: {len(summary.accounts)} accounts, {records} records and {summary.price_symbols} "
        "symbols of daily prices (all invented).",
        "Remove it any time from Settings.",
    )
    return redirect(request, "/")


@router.post("/demo/remove")
async def demo_remove(
    request: Request,
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    await check_csrf(request, settings, user)
    removed = remove_demo(session, user)
    session.commit()
    flash(
        request,
        settings,
        "ok",
        f"Removed {removed} demo account{'s' if removed != 1 else ''} and their data.",
    )
    return redirect(request, "/settings")
