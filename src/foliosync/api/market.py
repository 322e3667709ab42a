"""Market data endpoints: constituents, stored bars, ATR, indicators, scans and the holdings scan.

Market data is shared by every user (but still needs a login); only the holdings scan and the
HELD universe are scoped to the calling user. Reads never call a provider: refreshing is the job of
`foliosync market refresh` and the scheduled tasks (docs/market.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from foliosync.api.deps import app_settings, current_user, db_session
from foliosync.config import Settings
from foliosync.errors import NotFoundError, ValidationFailed
from foliosync.kv import store_for
from foliosync.market.constituents.service import current_constituents
from foliosync.market.indicators.snapshot import FIELDS, IndicatorTable, compute_snapshot
from foliosync.market.indices import IndexName
from foliosync.market.prices.store import bars_between, load_series
from foliosync.market.scanners.gate import DEFAULT_GATE
from foliosync.market.scanners.holdings import holdings_scan
from foliosync.market.scanners.presets import PRESETS
from foliosync.market.scanners.runner import scan
from foliosync.market.symbols import is_valid_ticker, normalize_ticker
from foliosync.models import User

router = APIRouter(prefix="/api/v1/market", tags=["market"])

SessionDep = Annotated[Session, Depends(db_session)]
UserDep = Annotated[User, Depends(current_user)]
SettingsDep = Annotated[Settings, Depends(app_settings)]

RANGES = {"1m": 31, "3m": 92, "6m": 183, "1y": 366, "2y": 731, "5y": 1827}
REFRESH_HINT = "Bars are fetched by: foliosync market refresh --prices"


def _symbol(raw: str) -> str:
    symbol = normalize_ticker(raw)
    if not is_valid_ticker(symbol):
        raise ValidationFailed(f"{raw!r} is not a US stock ticker", hint="Use a symbol like AAPL or BRK.B.")
    return symbol


def _index(raw: str) -> IndexName:
    try:
        return IndexName.parse(raw)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None


# --- constituents -----------------------------------------------------------------------------


class MemberOut(BaseModel):
    symbol: str
    name: str | None
    sector: str | None


class ConstituentsOut(BaseModel):
    index: str
    source: str | None
    fetched_at: datetime | None
    from_cache: bool
    count: int
    members: list[MemberOut]


@router.get("/constituents", response_model=ConstituentsOut)
def constituents(
    session: SessionDep, settings: SettingsDep, _user: UserDep, index: str = Query("SP500")
) -> ConstituentsOut:
    chosen = _index(index)
    view = current_constituents(session, store_for(settings.redis_url), chosen)
    if not view.members:
        raise NotFoundError(
            f"no {chosen.value} constituents stored yet", hint="Fetch them with: foliosync market refresh"
        )
    return ConstituentsOut(
        index=chosen.value,
        source=view.source,
        fetched_at=view.fetched_at,
        from_cache=view.from_cache,
        count=len(view.members),
        members=[MemberOut(symbol=m.symbol, name=m.name, sector=m.sector) for m in view.members],
    )


# --- prices -----------------------------------------------------------------------------------


class BarOut(BaseModel):
    date: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    source: str


class PricesOut(BaseModel):
    symbol: str
    range: str
    count: int
    bars: list[BarOut]


def _range_start(name: str, today: date) -> date | None:
    key = name.strip().lower()
    if key == "max":
        return None
    if key == "ytd":
        return date(today.year, 1, 1)
    if key not in RANGES:
        raise ValidationFailed(
            f"unknown range {name!r}", hint=f"Use one of {', '.join([*RANGES, 'ytd', 'max'])}."
        )
    return today - timedelta(days=RANGES[key])


@router.get("/prices", response_model=PricesOut)
def prices(
    session: SessionDep, _user: UserDep, symbol: str, period: str = Query("1y", alias="range")
) -> PricesOut:
    chosen = _symbol(symbol)
    rows = bars_between(session, chosen, _range_start(period, datetime.now(UTC).date()))
    if not rows:
        raise NotFoundError(f"no daily bars stored for {chosen} in range {period}", hint=REFRESH_HINT)
    return PricesOut(
        symbol=chosen,
        range=period,
        count=len(rows),
        bars=[
            BarOut(
                date=r.bar_date,
                open=r.open,
                high=r.high,
                low=r.low,
                close=r.close,
                volume=r.volume,
                source=r.source,
            )
            for r in rows
        ],
    )


# --- indicators -------------------------------------------------------------------------------


def _table(session: Session, symbol: str) -> IndicatorTable:
    series = load_series(session, [symbol])
    if symbol not in series:
        raise NotFoundError(f"no daily bars stored for {symbol}", hint=REFRESH_HINT)
    return compute_snapshot([series[symbol]])


class AtrOut(BaseModel):
    symbol: str
    as_of: date | None
    bars: int
    close: float | None
    atr_14: float | None
    atr_pct: float | None
    stop_1_5_atr: float | None = Field(description="close - 1.5 x ATR(14)")
    stop_2_atr: float | None = Field(description="close - 2 x ATR(14)")


@router.get("/atr", response_model=AtrOut)
def atr(session: SessionDep, _user: UserDep, symbol: str) -> AtrOut:
    chosen = _symbol(symbol)
    table = _table(session, chosen)
    row = table.row(0)
    close, value = row["close"], row["atr_14"]
    return AtrOut(
        symbol=chosen,
        as_of=table.as_of[0],
        bars=int(row["bars"] or 0),
        close=close,
        atr_14=value,
        atr_pct=row["atr_pct"],
        stop_1_5_atr=None if close is None or value is None else round(close - 1.5 * value, 4),
        stop_2_atr=None if close is None or value is None else round(close - 2 * value, 4),
    )


class TaOut(BaseModel):
    symbol: str
    as_of: date | None
    values: dict[str, float | None]


@router.get("/ta", response_model=TaOut)
def technicals(session: SessionDep, _user: UserDep, symbol: str) -> TaOut:
    chosen = _symbol(symbol)
    table = _table(session, chosen)
    return TaOut(symbol=chosen, as_of=table.as_of[0], values=table.row(0))


class FieldOut(BaseModel):
    name: str
    description: str


class PresetOut(BaseModel):
    name: str
    title: str
    expression: str
    sort: str
    descending: bool
    rank: str | None


class CatalogueOut(BaseModel):
    fields: list[FieldOut]
    presets: list[PresetOut]
    gate: str


@router.get("/fields", response_model=CatalogueOut)
def fields(_user: UserDep) -> CatalogueOut:
    """What a scan expression may name, the presets, and the default liquidity gate."""
    return CatalogueOut(
        fields=[FieldOut(name=n, description=d) for n, d in sorted(FIELDS.items())],
        presets=[
            PresetOut(
                name=p.name,
                title=p.title,
                expression=p.expression,
                sort=p.sort,
                descending=p.descending,
                rank=f"top {p.rank.top_fraction:.0%} by {p.rank.field}" if p.rank else None,
            )
            for p in PRESETS.values()
        ],
        gate=DEFAULT_GATE.describe(),
    )


# --- scans ------------------------------------------------------------------------------------


class ScanIn(BaseModel):
    preset: str | None = None
    expression: str | None = Field(default=None, max_length=2000)
    universe: str | list[str] | None = Field(
        default=None, description="SP500, NASDAQ100, DOW30, HELD (your holdings) or a list of symbols"
    )
    gate: bool = Field(default=True, description="apply the liquidity gate (docs/market.md)")
    sort: str | None = Field(default=None, max_length=200)
    descending: bool | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class ScanOut(BaseModel):
    preset: str | None
    expression: str
    gate: str | None
    as_of: date | None
    universe_size: int
    passed_gate: int
    matched: int
    no_data: list[str]
    rows: list[dict[str, object]]


@router.post("/scan", response_model=ScanOut)
def run(body: ScanIn, session: SessionDep, user: UserDep) -> ScanOut:
    result = scan(
        session,
        expression=body.expression,
        preset=body.preset,
        universe=body.universe,
        user_id=user.id,
        gate=DEFAULT_GATE if body.gate else None,
        sort=body.sort,
        descending=body.descending,
        limit=body.limit,
    )
    return ScanOut(
        preset=result.preset,
        expression=result.expression,
        gate=result.gate,
        as_of=result.as_of,
        universe_size=result.universe_size,
        passed_gate=result.passed_gate,
        matched=result.matched,
        no_data=result.no_data,
        rows=result.rows,
    )


class HoldingOut(BaseModel):
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


class HoldingsOut(BaseModel):
    multiple: Decimal
    positions: list[HoldingOut]


@router.get("/holdings", response_model=HoldingsOut)
def holdings(
    session: SessionDep, user: UserDep, multiple: Decimal = Query(Decimal(2), gt=0, le=10)
) -> HoldingsOut:
    """ATR, ATR% and the distance to an ATR stop for each of *your* positions."""
    rows = holdings_scan(session, user.id, multiple=multiple)
    return HoldingsOut(multiple=multiple, positions=[HoldingOut(**vars(r)) for r in rows])
