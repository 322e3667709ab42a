"""The demo data set: three accounts (IBKR, Schwab, Fidelity) and a year of their activity.

Everything is a pure function of `end` (the last session of the demo year): the same `end` always
gives the same bars and the same records, so tests can assert exact values.

- IBKR Individual: a wire in, single stocks and three foreign ADRs (dividends with the issuer
  country's tax withheld), a payment in lieu of a dividend while shares were lent, trims and adds
  during the year, a covered call written a month before the end, a monthly market-data fee and
  monthly credit interest on cash above $10,000.
- Schwab Brokerage: ETFs and two dividend stocks, a $1,000 deposit invested in VTI every month,
  bank-sweep interest.
- Fidelity Roth IRA: one contribution into an index mutual fund and a bond ETF, money-market interest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from foliosync.demo.book import AccountBook
from foliosync.demo.catalog import BY_SYMBOL, SCAN_ONLY, SECURITIES
from foliosync.demo.prices import CENT, DemoBar, PriceBook, previous_weekday, simulate_bars, weekdays
from foliosync.ledger.instruments import parse_occ_symbol
from foliosync.ledger.records import Batch
from foliosync.ledger.taxonomy import AssetCategory, Broker, SourceFormat

D = Decimal
ZERO = Decimal(0)
ACTIVITY_DAYS = 365
# Bars start this many calendar days before the end, so SMA(200) and the 52-week range are warm
# on every day of the activity year.
PRICE_HISTORY_DAYS = 640


@dataclass(frozen=True)
class DemoAccount:
    broker: Broker
    number: str
    alias: str
    source: SourceFormat
    commission: Decimal = ZERO


IBKR = DemoAccount(Broker.IBKR, "DEMO-U1000001", "IBKR Individual (demo)", SourceFormat.FLEX_XML, D("1.00"))
SCHWAB = DemoAccount(Broker.SCHWAB, "DEMO-4000-0001", "Schwab Brokerage (demo)", SourceFormat.API)
FIDELITY = DemoAccount(Broker.FIDELITY, "DEMO-Z7000001", "Fidelity Roth IRA (demo)", SourceFormat.CSV)
ACCOUNTS = (IBKR, SCHWAB, FIDELITY)

Action = Callable[[AccountBook, date], None]
MonthHook = Callable[[AccountBook, date], None]


@dataclass
class DemoDataset:
    end: date
    bars: dict[str, list[DemoBar]]
    batches: dict[str, Batch]  # by account number


def demo_end(today: date) -> date:
    """The demo year ends on the last weekday before `today` (its closing prices are known)."""
    return previous_weekday(today)


def third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def option_expiry(after: date) -> date:
    """The first monthly expiry (third Friday) on or after `after`."""
    year, month = after.year, after.month
    while True:
        expiry = third_friday(year, month)
        if expiry >= after:
            return expiry
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def ex_date_in(month_day: date) -> date:
    """Demo ex-dates fall on the first weekday on or after the 12th; pay dates two weeks later."""
    day = date(month_day.year, month_day.month, 12)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def pay_date_for(ex_date: date) -> date:
    day = ex_date + timedelta(days=14)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _replay(
    book: AccountBook,
    days: list[date],
    plan: dict[int, list[Action]],
    *,
    month_start: MonthHook | None = None,
    month_end: MonthHook | None = None,
    in_lieu: frozenset[tuple[str, int]] = frozenset(),
) -> None:
    """Run the plan day by day; dividends go ex on the shares held that day and are paid later.

    `in_lieu` names (symbol, n): the n-th dividend of that symbol in the year arrives as a payment
    in lieu (the shares were on loan over the ex-date).
    """
    pending: list[tuple[date, date, str, Decimal, bool]] = []  # pay, ex, symbol, shares, in lieu
    seen: dict[str, int] = {}
    for index, day in enumerate(days):
        for item in [p for p in pending if p[0] <= day]:
            pending.remove(item)
            pay, ex, symbol, shares, lieu = item
            book.dividend(ex, pay, symbol, shares, in_lieu=lieu)
        if index > 0 and days[index - 1].month != day.month and month_start is not None:
            month_start(book, day)
        for action in plan.get(index, []):
            action(book, day)
        for symbol, lot in list(book.lots.items()):
            security = BY_SYMBOL.get(symbol)
            if lot.ref.asset_category is AssetCategory.OPT or security is None:
                continue
            if day.month in security.dividend_months and day == ex_date_in(day):
                seen[symbol] = seen.get(symbol, 0) + 1
                lieu = (symbol, seen[symbol]) in in_lieu
                pending.append((pay_date_for(day), day, symbol, lot.quantity, lieu))
        next_session = (
            days[index + 1] if index + 1 < len(days) else day + timedelta(days=3 if day.weekday() == 4 else 1)
        )
        last_of_month = next_session.month != day.month
        if last_of_month and month_end is not None:
            month_end(book, day)


def _buy(*orders: tuple[str, int]) -> Action:
    def act(book: AccountBook, day: date) -> None:
        for symbol, quantity in orders:
            book.buy(day, symbol, quantity)

    return act


def _sell(symbol: str, quantity: int) -> Action:
    return lambda book, day: book.sell(day, symbol, quantity)


def _deposit(amount: str, subkind: str) -> Action:
    return lambda book, day: book.deposit(day, D(amount), subkind)


def _ibkr(prices: PriceBook, days: list[date], end: date) -> Batch:
    book = AccountBook(
        broker=IBKR.broker,
        source=IBKR.source,
        number=IBKR.number,
        alias=IBKR.alias,
        prices=prices,
        commission=IBKR.commission,
    )
    expiry = option_expiry(end + timedelta(days=21))
    written: dict[str, Decimal] = {}

    def write_call(b: AccountBook, day: date) -> None:
        ref = b.sell_covered_call(day, "AAPL", expiry, 1)
        written[ref.symbol] = b.batch.trades[-1].price

    plan: dict[int, list[Action]] = {
        0: [_deposit("200000", "WIRE")],
        1: [_buy(("AAPL", 150), ("MSFT", 60), ("NVDA", 300), ("JPM", 80))],
        2: [_buy(("ASML", 20), ("TSM", 120), ("NVS", 100))],
        60: [_buy(("XOM", 150))],
        120: [_sell("NVDA", 100)],
        150: [_buy(("AAPL", 50))],
        200: [_sell("JPM", 30)],
        len(days) - 30: [write_call],
    }

    def month_end(b: AccountBook, day: date) -> None:
        b.fee(day, D("10.00"), "MARKET_DATA", "Market data: US securities snapshot and futures bundle")
        b.interest(day, D("0.03"), D("10000"), "CREDIT_BALANCE")

    _replay(book, days, plan, month_end=month_end, in_lieu=frozenset({("MSFT", 2)}))
    marks = {symbol: _call_mark(prices, end, symbol, premium) for symbol, premium in written.items()}
    return book.close_out(end, marks)


def _call_mark(prices: PriceBook, end: date, occ: str, premium: Decimal) -> Decimal:
    """A deterministic call price: intrinsic value plus 55% of the premium left as time value
    (the demo needs a plausible mark, not an option model)."""
    parsed = parse_occ_symbol(occ)
    assert parsed is not None
    underlying, _expiry, _pc, strike = parsed
    spot = prices.close(underlying, end)
    intrinsic = max(spot - strike, D(0))
    time_value = premium * D("0.55")
    return (intrinsic + time_value).quantize(CENT)


def _schwab(prices: PriceBook, days: list[date], end: date) -> Batch:
    book = AccountBook(
        broker=SCHWAB.broker, source=SCHWAB.source, number=SCHWAB.number, alias=SCHWAB.alias, prices=prices
    )
    plan: dict[int, list[Action]] = {
        0: [_deposit("60000", "ACH")],
        1: [_buy(("VTI", 100), ("VXUS", 200), ("BND", 150), ("KO", 80), ("JNJ", 30))],
    }

    def month_start(b: AccountBook, day: date) -> None:
        b.deposit(day, D("1000"), "ACH")
        b.invest(day, "VTI", D("1000"))

    def month_end(b: AccountBook, day: date) -> None:
        b.interest(day, D("0.0045"), D(0), "BANK_SWEEP")

    _replay(book, days, plan, month_start=month_start, month_end=month_end)
    return book.close_out(end, {})


def _fidelity(prices: PriceBook, days: list[date], end: date) -> Batch:
    book = AccountBook(
        broker=FIDELITY.broker,
        source=FIDELITY.source,
        number=FIDELITY.number,
        alias=FIDELITY.alias,
        prices=prices,
    )
    plan: dict[int, list[Action]] = {
        0: [_deposit("7000", "CONTRIBUTION")],
        2: [_buy(("FXAIX", 30), ("BND", 15))],
    }

    def month_end(b: AccountBook, day: date) -> None:
        b.interest(day, D("0.045"), D(0), "BANK_SWEEP")

    _replay(book, days, plan, month_end=month_end)
    return book.close_out(end, {})


def build_dataset(end: date) -> DemoDataset:
    """Bars for every demo symbol and one batch per demo account, for the year ending `end`."""
    start = end - timedelta(days=ACTIVITY_DAYS - 1)
    days = weekdays(start, end)
    price_days = weekdays(end - timedelta(days=PRICE_HISTORY_DAYS), end)
    bars = {s.symbol: simulate_bars(s, price_days, anchor=days[0]) for s in SECURITIES + SCAN_ONLY}
    prices = PriceBook(bars)
    batches = {
        IBKR.number: _ibkr(prices, days, end),
        SCHWAB.number: _schwab(prices, days, end),
        FIDELITY.number: _fidelity(prices, days, end),
    }
    for batch in batches.values():
        batch.period_start = start
    return DemoDataset(end=end, bars=bars, batches=batches)
