"""The scanner page and a symbol's chart with its ATR bands.

Both call the market package's services directly (foliosync.market.scanners.runner.scan, the
price store, the indicator engine): the same code behind POST /api/v1/market/scan,
GET /api/v1/market/prices and /atr. Reads never fetch from a provider; bars come from
`foliosync market refresh --prices` (or the demo data set). The scan form is a GET form, so a
scan is a link that can be bookmarked and shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.api.deps import app_settings, db_session
from foliosync.config import Settings
from foliosync.errors import FoliosyncError, ValidationFailed
from foliosync.market.indicators.engine import indicator_series
from foliosync.market.indicators.snapshot import FIELDS, compute_snapshot
from foliosync.market.prices.store import load_series
from foliosync.market.scanners.gate import DEFAULT_GATE
from foliosync.market.scanners.holdings import holdings_scan
from foliosync.market.scanners.presets import PRESETS
from foliosync.market.scanners.runner import MAX_EXPLICIT_SYMBOLS, scan
from foliosync.market.symbols import is_valid_ticker, normalize_ticker
from foliosync.models import DailyPrice, User
from foliosync.portfolio.holdings import consolidated_holdings
from foliosync.web.charts import PricePoint, price_band_chart
from foliosync.web.routing import PageRoute
from foliosync.web.session import page_user
from foliosync.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

STORED = "STORED"
UNIVERSES = (
    ("", "Indices + everything held (the ATR universe)"),
    ("SP500", "S&P 500"),
    ("NASDAQ100", "NASDAQ-100"),
    ("DOW30", "Dow 30"),
    ("HELD", "My holdings"),
    (STORED, "Every symbol with stored prices"),
)
RANGE_DAYS = {"3m": 92, "6m": 183, "1y": 366, "2y": 731, "max": None}


def stored_symbols(session: Session) -> list[str]:
    """Every symbol with bars, for scanning what is on hand (the demo's symbols, a custom list)."""
    query = select(DailyPrice.symbol).distinct().order_by(DailyPrice.symbol).limit(MAX_EXPLICIT_SYMBOLS)
    return [s for s in session.scalars(query) if is_valid_ticker(s)]


def _universe(session: Session, choice: str) -> str | list[str] | None:
    if choice == STORED:
        return stored_symbols(session)
    return choice or None


@router.get("/scanner")
def scanner_page(
    request: Request,
    preset: str | None = Query(default=None, max_length=64),
    expression: str | None = Query(default=None, max_length=2000),
    universe: str = Query(default="", max_length=16),
    gate: str | None = Query(default=None, max_length=8),
    run: str | None = Query(default=None, max_length=8),
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    expression = (expression or "").strip() or None
    preset = (preset or "").strip() or None
    universe = universe.strip().upper()
    # An unticked checkbox sends nothing: the gate is on by default, off only after a submitted form.
    gate_on = gate == "on" or (run is None and gate is None)
    result = error = None
    if preset or expression:
        try:
            result = scan(
                session,
                preset=None if expression else preset,
                expression=expression,
                universe=_universe(session, universe),
                user_id=user.id,
                gate=DEFAULT_GATE if gate_on else None,
                limit=200,
            )
        except FoliosyncError as exc:
            error = exc
    context = {
        "presets": list(PRESETS.values()),
        "fields": sorted(FIELDS.items()),
        "universes": UNIVERSES,
        "chosen": {"preset": preset, "expression": expression, "universe": universe, "gate": gate_on},
        "result": result,
        "error": error,
        "gate_text": DEFAULT_GATE.describe(),
        "holdings": holdings_scan(session, user.id) if result is None and error is None else [],
    }
    return render(request, settings, "scanner.html", context, user=user, active="scanner")


@dataclass(frozen=True)
class SymbolStats:
    as_of: date | None
    values: dict[str, float | None]

    def get(self, name: str) -> float | None:
        return self.values.get(name)


def _points(session: Session, symbol: str, days: int | None) -> tuple[list[PricePoint], SymbolStats | None]:
    series = load_series(session, [symbol]).get(symbol)
    if series is None or len(series) == 0:
        return [], None
    atr = indicator_series(series)["atr_14"]
    stats = compute_snapshot([series])
    start = series.last_date - timedelta(days=days) if days and series.last_date else None
    points = []
    for i in range(len(series)):
        day = date.fromisoformat(str(series.dates[i]))
        if start is not None and day < start:
            continue
        value = float(atr[i])
        points.append(PricePoint(day, float(series.close[i]), value if math.isfinite(value) else None))
    return points, SymbolStats(stats.as_of[0], stats.row(0))


@router.get("/symbol/{symbol}")
def symbol_page(
    request: Request,
    symbol: str,
    period: str = Query(default="1y", alias="range", max_length=4),
    k: float = Query(default=2.0, ge=0.5, le=5.0),
    user: User = Depends(page_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    chosen = normalize_ticker(symbol)
    if not is_valid_ticker(chosen):
        raise ValidationFailed(
            f"{symbol!r} is not a US stock ticker.", hint="Use a symbol like AAPL or BRK.B."
        )
    period = period if period in RANGE_DAYS else "1y"
    points, stats = _points(session, chosen, RANGE_DAYS[period])
    held = [h for h in consolidated_holdings(session, user.id) if h.symbol == chosen]
    chart = price_band_chart(
        points,
        k=k,
        chart_id="price",
        title=f"{chosen} daily close with a band of ±{k:g} ATR(14)",
    )
    first, last = (points[0], points[-1]) if points else (None, None)
    change = (last.close / first.close - 1) if first and last and first.close else None
    context: dict[str, Any] = {
        "symbol": chosen,
        "period": period,
        "periods": list(RANGE_DAYS),
        "k": k,
        "chart": chart,
        "stats": stats,
        "points": len(points),
        "change": Decimal(repr(change)) if change is not None else None,
        "held": held,
        "now": datetime.now(UTC),
    }
    return render(request, settings, "symbol.html", context, user=user, active="scanner")
