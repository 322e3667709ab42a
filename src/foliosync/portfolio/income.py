"""Monthly dividend income, net of withholding tax, from one user's cash transactions.

Income here is dividend income as the taxonomy defines it (shared taxonomy.md §1.1): DIVIDEND and
PAYMENT_IN_LIEU rows, less the WITHHOLDING_TAX taken from them, plus any WITHHOLDING_REFUND.
Withholding on interest (subkind INTEREST) belongs to interest income, so it is left out. POSTED and
REVERSED rows count (a reversal is its own opposite row, so the pair nets to zero); CANCELLED and
PENDING rows do not (taxonomy.md §0, "status").

Amounts are converted to the account's base currency with the row's `fx_rate_to_base` when the
broker gave one; a row without a rate is taken to be in base currency already. The sums are exact
Decimals, done in Python so SQLite (which keeps decimals as text) and PostgreSQL agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.ledger.taxonomy import CashKind, RecordStatus
from foliosync.models import BrokerAccount, CashTransaction

ZERO = Decimal(0)

GROSS_KINDS = (CashKind.DIVIDEND.value, CashKind.PAYMENT_IN_LIEU.value)
TAX_KINDS = (CashKind.WITHHOLDING_TAX.value, CashKind.WITHHOLDING_REFUND.value)
COUNTED_STATUSES = (RecordStatus.POSTED.value, RecordStatus.REVERSED.value)
INTEREST_SUBKIND = "INTEREST"


@dataclass(frozen=True)
class MonthIncome:
    month: date  # the first day of the month
    dividends: Decimal = ZERO
    payments_in_lieu: Decimal = ZERO
    withholding: Decimal = ZERO  # negative when tax was withheld, positive for a net refund

    @property
    def gross(self) -> Decimal:
        return self.dividends + self.payments_in_lieu

    @property
    def net(self) -> Decimal:
        return self.gross + self.withholding


@dataclass(frozen=True)
class IncomeReport:
    months: list[MonthIncome]  # oldest first, every month of the window (zero months included)

    @property
    def gross(self) -> Decimal:
        return sum((m.gross for m in self.months), ZERO)

    @property
    def withholding(self) -> Decimal:
        return sum((m.withholding for m in self.months), ZERO)

    @property
    def net(self) -> Decimal:
        return sum((m.net for m in self.months), ZERO)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + (month.month - 1) + count
    return date(index // 12, index % 12 + 1, 1)


def month_window(end: date, months: int) -> list[date]:
    """The first days of the `months` calendar months that end with `end`'s month, oldest first."""
    if months < 1:
        raise ValueError("months must be at least 1")
    last = month_start(end)
    return [add_months(last, offset) for offset in range(-(months - 1), 1)]


def monthly_income(
    session: Session, user_id: int, *, end: date, months: int = 12, account_id: int | None = None
) -> IncomeReport:
    """Dividend income per calendar month for the `months` months ending with `end`'s month."""
    window = month_window(end, months)
    first = window[0]
    query = (
        select(
            CashTransaction.posted_date,
            CashTransaction.kind,
            CashTransaction.subkind,
            CashTransaction.amount,
            CashTransaction.fx_rate_to_base,
        )
        .join(BrokerAccount, BrokerAccount.id == CashTransaction.account_id)
        .where(
            BrokerAccount.user_id == user_id,
            CashTransaction.kind.in_(GROSS_KINDS + TAX_KINDS),
            CashTransaction.status.in_(COUNTED_STATUSES),
            CashTransaction.posted_date >= first,
            CashTransaction.posted_date <= end,
        )
    )
    if account_id is not None:
        query = query.where(CashTransaction.account_id == account_id)
    dividends = {m: ZERO for m in window}
    in_lieu = {m: ZERO for m in window}
    withheld = {m: ZERO for m in window}
    for posted, kind, subkind, amount, fx_rate in session.execute(query):
        month = month_start(posted)
        value = amount * (fx_rate if fx_rate is not None else 1)
        if kind == CashKind.DIVIDEND.value:
            dividends[month] += value
        elif kind == CashKind.PAYMENT_IN_LIEU.value:
            in_lieu[month] += value
        elif subkind != INTEREST_SUBKIND:
            withheld[month] += value
    return IncomeReport(
        [
            MonthIncome(month=m, dividends=dividends[m], payments_in_lieu=in_lieu[m], withholding=withheld[m])
            for m in window
        ]
    )
