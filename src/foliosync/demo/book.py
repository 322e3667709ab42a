"""One demo account's ledger, replayed day by day into canonical records.

The book keeps cash and average-cost holdings as it goes, so every record it emits is consistent
with the others: the closing balance equals the sum of every cash effect, a position's quantity
equals the sum of its trades, and dividends are paid on the shares held on the ex-date. Signs follow
foliosync.ledger.records (amount > 0 = money in; quantity > 0 adds to the holding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from foliosync.demo.catalog import BY_SYMBOL, Security
from foliosync.demo.prices import CENT, PriceBook
from foliosync.ledger.instruments import occ_symbol
from foliosync.ledger.records import (
    AccountInfo,
    BalanceRecord,
    Batch,
    CashRecord,
    InstrumentRef,
    PositionRecord,
    TradeRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    Broker,
    CashKind,
    FlowScope,
    SourceFormat,
    TradeKind,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MARKET_CLOSE_UTC = time(21, 0, tzinfo=UTC)
EXECUTION_UTC = time(15, 30, tzinfo=UTC)


def stock_ref(security: Security) -> InstrumentRef:
    return InstrumentRef(
        asset_category=AssetCategory(security.asset_category),
        symbol=security.symbol,
        currency="USD",
        description=security.name,
        exchange=security.exchange,
        sector=security.sector,
    )


def option_ref(underlying: str, expiry: date, put_call: str, strike: Decimal) -> InstrumentRef:
    return InstrumentRef(
        asset_category=AssetCategory.OPT,
        symbol=occ_symbol(underlying, expiry, put_call, strike),
        currency="USD",
        description=f"{underlying} {expiry:%d%b%y} {strike.normalize()} {'Call' if put_call == 'C' else 'Put'}",
        exchange="CBOE",
        underlying_symbol=underlying,
        strike=strike,
        expiry=expiry,
        put_call=put_call,
        multiplier=HUNDRED,
        sector=BY_SYMBOL[underlying].sector,
    )


def next_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass
class Lot:
    """An average-cost holding: `cost` is the total basis of `quantity` (negative for a short)."""

    ref: InstrumentRef
    quantity: Decimal = ZERO
    cost: Decimal = ZERO


class AccountBook:
    def __init__(
        self,
        *,
        broker: Broker,
        source: SourceFormat,
        number: str,
        alias: str,
        prices: PriceBook,
        commission: Decimal = ZERO,
    ) -> None:
        self.number = number
        self.prices = prices
        self.commission = commission
        self.batch = Batch(broker=broker, source=source, accounts=[AccountInfo(number, "USD", alias)])
        self.cash = ZERO
        self.lots: dict[str, Lot] = {}
        self._sequence = 0

    # -- bookkeeping ---------------------------------------------------------------------------

    def _key(self, what: str) -> str:
        self._sequence += 1
        return f"demo:{self.number}:{what}:{self._sequence:04d}"

    def _cash(self, record: CashRecord) -> CashRecord:
        self.batch.cash.append(record)
        self.cash += record.amount
        return record

    def holding(self, symbol: str) -> Decimal:
        lot = self.lots.get(symbol)
        return lot.quantity if lot else ZERO

    # -- money in and out ------------------------------------------------------------------------

    def deposit(self, day: date, amount: Decimal, subkind: str = "ACH") -> None:
        self._cash(
            CashRecord(
                account=self.number,
                natural_key=self._key("deposit"),
                kind=CashKind.DEPOSIT,
                subkind=subkind,
                amount=amount,
                currency="USD",
                posted_date=day,
                flow_scope=FlowScope.EXTERNAL,
                description=f"{subkind.title()} deposit",
            )
        )

    def fee(self, day: date, amount: Decimal, subkind: str, description: str) -> None:
        self._cash(
            CashRecord(
                account=self.number,
                natural_key=self._key("fee"),
                kind=CashKind.FEE,
                subkind=subkind,
                amount=-amount,
                currency="USD",
                posted_date=day,
                description=description,
            )
        )

    def interest(self, day: date, annual_rate: Decimal, threshold: Decimal, subkind: str) -> None:
        """A month of interest on the cash above `threshold` (nothing when there is none)."""
        earning = self.cash - threshold
        amount = (earning * annual_rate / 12).quantize(CENT)
        if amount <= 0:
            return
        self._cash(
            CashRecord(
                account=self.number,
                natural_key=self._key("interest"),
                kind=CashKind.INTEREST_RECEIVED,
                subkind=subkind,
                amount=amount,
                currency="USD",
                posted_date=day,
                description=f"USD credit interest for {day:%b-%Y}",
            )
        )

    # -- trades ----------------------------------------------------------------------------------

    def _trade(
        self, day: date, ref: InstrumentRef, kind: TradeKind, quantity: Decimal, price: Decimal
    ) -> None:
        multiplier = ref.multiplier
        gross = -quantity * price * multiplier
        commission = -self.commission if self.commission else ZERO
        regulatory = -(abs(gross) * Decimal("0.0000278")).quantize(CENT) if quantity < 0 else ZERO
        net = gross + commission + regulatory
        lot = self.lots.setdefault(ref.symbol, Lot(ref))
        realized: Decimal | None = None
        opening = lot.quantity == 0 or (lot.quantity > 0) == (quantity > 0)
        if opening:
            lot.cost += -net  # basis includes the costs of buying (negative for a short's credit)
            lot.quantity += quantity
        else:
            share = (-quantity / lot.quantity) if lot.quantity else ZERO
            released = (lot.cost * share).quantize(CENT)
            realized = net - released  # proceeds (or the cost of closing a short) less the basis
            lot.cost -= released
            lot.quantity += quantity
        if lot.quantity == 0:
            del self.lots[ref.symbol]
        self.cash += net
        self.batch.trades.append(
            TradeRecord(
                account=self.number,
                natural_key=self._key("trade"),
                instrument=ref,
                kind=kind,
                side="BUY" if quantity > 0 else "SELL",
                trade_date=day,
                quantity=quantity,
                price=price,
                gross_amount=gross,
                net_amount=net,
                currency="USD",
                commission=commission,
                regulatory_fees=regulatory,
                settle_date=next_weekday(day + timedelta(days=1)),
                executed_at=datetime.combine(day, EXECUTION_UTC),
                fx_rate_to_base=Decimal(1),
                realized_pnl=realized,
                open_close="O" if opening else "C",
            )
        )

    def buy(self, day: date, symbol: str, quantity: int | Decimal) -> None:
        security = BY_SYMBOL[symbol]
        self._trade(
            day, stock_ref(security), TradeKind.BUY, Decimal(quantity), self.prices.close(symbol, day)
        )

    def sell(self, day: date, symbol: str, quantity: int | Decimal) -> None:
        security = BY_SYMBOL[symbol]
        self._trade(
            day, stock_ref(security), TradeKind.SELL, -Decimal(quantity), self.prices.close(symbol, day)
        )

    def invest(self, day: date, symbol: str, budget: Decimal) -> None:
        """Buy as many whole shares as `budget` pays for (a monthly auto-invest)."""
        quantity = int(budget // self.prices.close(symbol, day))
        if quantity > 0:
            self.buy(day, symbol, quantity)

    def sell_covered_call(self, day: date, underlying: str, expiry: date, contracts: int) -> InstrumentRef:
        """Write calls about 8% out of the money for a premium of 2.5% of the stock price."""
        spot = self.prices.close(underlying, day)
        strike = (spot * Decimal("1.08") / 5).quantize(Decimal(1)) * 5
        premium = (spot * Decimal("0.025")).quantize(CENT)
        ref = option_ref(underlying, expiry, "C", strike)
        self._trade(day, ref, TradeKind.SELL_TO_OPEN, -Decimal(contracts), premium)
        return ref

    # -- income ----------------------------------------------------------------------------------

    def dividend(
        self, ex_date: date, pay_date: date, symbol: str, shares: Decimal, *, in_lieu: bool = False
    ) -> None:
        """Pay the dividend on the `shares` held at `ex_date`, and the tax withheld from it.

        `in_lieu`: the shares were lent out over the ex-date, so the borrower pays a substitute
        (PAYMENT_IN_LIEU) from which, in the demo, no foreign tax is withheld.
        """
        security = BY_SYMBOL[symbol]
        if shares <= 0:
            return
        amount = (shares * security.dividend).quantize(CENT)
        ref = stock_ref(security)
        action = f"demo-{symbol}-{ex_date:%Y%m%d}"
        per_share = security.dividend.normalize()
        gross = self._cash(
            CashRecord(
                account=self.number,
                natural_key=self._key("div"),
                kind=CashKind.PAYMENT_IN_LIEU if in_lieu else CashKind.DIVIDEND,
                subkind="RECEIVED" if in_lieu else "QUALIFIED",
                amount=amount,
                currency="USD",
                posted_date=pay_date,
                instrument=ref,
                ex_date=ex_date,
                pay_date=pay_date,
                fx_rate_to_base=Decimal(1),
                action_id=action,
                description=(
                    f"{symbol} payment in lieu of dividend USD {per_share} per share"
                    if in_lieu
                    else f"{symbol} cash dividend USD {per_share} per share"
                ),
            )
        )
        if security.withholding_rate and not in_lieu:
            self._cash(
                CashRecord(
                    account=self.number,
                    natural_key=self._key("wht"),
                    kind=CashKind.WITHHOLDING_TAX,
                    subkind="DIVIDEND",
                    amount=-(amount * security.withholding_rate).quantize(CENT),
                    currency="USD",
                    posted_date=pay_date,
                    instrument=ref,
                    ex_date=ex_date,
                    pay_date=pay_date,
                    fx_rate_to_base=Decimal(1),
                    action_id=action,
                    related_key=gross.natural_key,
                    description=f"{symbol} cash dividend - foreign tax withheld",
                )
            )

    # -- closing snapshot ------------------------------------------------------------------------

    def close_out(self, end: date, option_marks: dict[str, Decimal]) -> Batch:
        """Add the closing positions and balance as of `end`, and return the finished batch."""
        as_of = datetime.combine(end, MARKET_CLOSE_UTC)
        market_total = ZERO
        for symbol, lot in sorted(self.lots.items()):
            ref = lot.ref
            if ref.asset_category is AssetCategory.OPT:
                mark = option_marks[symbol]
            else:
                mark = self.prices.close(symbol, end)
            value = (lot.quantity * mark * ref.multiplier).quantize(CENT)
            market_total += value
            self.batch.positions.append(
                PositionRecord(
                    account=self.number,
                    instrument=ref,
                    as_of_date=end,
                    as_of=as_of,
                    quantity=lot.quantity,
                    currency="USD",
                    cost_basis=lot.cost,
                    mark_price=mark,
                    market_value=value,
                    unrealized_pnl=value - lot.cost,
                    fx_rate_to_base=Decimal(1),
                )
            )
        self.batch.balances.append(
            BalanceRecord(
                account=self.number,
                as_of_date=end,
                currency="USD",
                cash=self.cash,
                net_liquidation=self.cash + market_total,
            )
        )
        self.batch.sections |= {"trades", "cash", "positions", "balances"}
        self.batch.period_end = end
        self.batch.covers_until = as_of
        return self.batch
