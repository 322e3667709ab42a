"""Flex `CashTransactions` rows -> CashRecords, then the links between them.

Mapping: shared taxonomy.md §3.1 "CashTransaction.type" (first matching row wins); keys: §2.2
(transactionID, else the §2.3 hash); links: §4.1 (withholding <-> dividend) and §4.6.
* SUMMARY rows (`levelOfDetail="SUMMARY"`, `accountId="-"`) repeat the DETAIL rows: skipped, or
  every amount would count twice (portfolio-performance#3068).
* The kind is fixed by the broker's type and the sign carries the direction: a positive
  "Broker Interest Paid" is a refund of interest paid, not interest received.
* A reversal is its own row with the opposite amount. Rows that share an actionID and cancel each
  other are linked (`related_key` of the reversal -> the original, which becomes REVERSED).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from foliosync.brokers.ibkr.flex_parser import FlexRow
from foliosync.brokers.ibkr.flex_values import (
    attr_date,
    attr_datetime,
    attr_decimal,
    attr_label,
    attr_text,
    first_date,
)
from foliosync.brokers.ibkr.normalize_context import FlexContext
from foliosync.ledger.records import CashRecord
from foliosync.ledger.taxonomy import CashKind, FlowScope, RecordStatus

ZERO = Decimal(0)
DEPOSIT_TYPES = frozenset({"Deposits/Withdrawals", "Deposits & Withdrawals"})
INCOME_KINDS = frozenset(
    {
        CashKind.DIVIDEND,
        CashKind.PAYMENT_IN_LIEU,
        CashKind.RETURN_OF_CAPITAL,
        CashKind.CAPITAL_GAIN_DISTRIBUTION,
    }
)
TAX_KINDS = frozenset({CashKind.WITHHOLDING_TAX, CashKind.WITHHOLDING_REFUND})
HIGH_WITHHOLDING_RATE = Decimal("0.35")  # taxonomy §4.1 "check"
_MARKET_DATA = re.compile(
    r"SNAPSHOT|VALUE BUNDLE|MARKET DATA|\bFOR (JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[- ]\d{4}"
)
_OWN_ACCOUNT = re.compile(r"\bTRANSFER\b.*\b[UFDI]\d{5,9}\b")


@dataclass(frozen=True, slots=True)
class CashMapping:
    kind: CashKind
    subkind: str | None
    flow: FlowScope = FlowScope.NONE
    review: bool = False
    known: bool = True


def classify(type_raw: str, description: str, amount: Decimal, has_instrument: bool) -> CashMapping:
    """taxonomy §3.1 CashTransaction.type table, in its order."""
    desc = description.upper()
    if type_raw == "Dividends":
        if "RETURN OF CAPITAL" in desc:
            return CashMapping(CashKind.RETURN_OF_CAPITAL, None, review=True)
        if "CAPITAL GAIN" in desc:
            return CashMapping(CashKind.CAPITAL_GAIN_DISTRIBUTION, None, review=True)
        return CashMapping(CashKind.DIVIDEND, "MIXED" if "MIXED INCOME" in desc else "ORDINARY")
    if type_raw == "Payment In Lieu Of Dividends":
        return CashMapping(CashKind.PAYMENT_IN_LIEU, "RECEIVED" if amount >= 0 else "CHARGED")
    if type_raw == "Withholding Tax":
        subkind = "DIVIDEND" if has_instrument else "INTEREST"
        if amount > 0:
            return CashMapping(CashKind.WITHHOLDING_REFUND, subkind)
        return CashMapping(CashKind.WITHHOLDING_TAX, subkind)
    if type_raw == "871(m) Withholding":
        return CashMapping(CashKind.WITHHOLDING_TAX, "SEC_871M", review=True)
    if type_raw == "Broker Interest Received":
        return CashMapping(
            CashKind.INTEREST_RECEIVED, "SECURITIES_LENDING" if "SYEP" in desc else "CREDIT_BALANCE"
        )
    if type_raw == "Broker Interest Paid":
        return CashMapping(CashKind.INTEREST_PAID, "MARGIN")
    if type_raw == "Bond Interest Received":
        return CashMapping(CashKind.BOND_INTEREST, "COUPON")
    if type_raw == "Bond Interest Paid":
        return CashMapping(CashKind.BOND_INTEREST, "ACCRUED_PAID")
    if type_raw == "Other Fees":
        if "ADR FEE" in desc:
            return CashMapping(CashKind.FEE, "ADR")
        if "MONTHLY MINIMUM FEE" in desc:
            return CashMapping(CashKind.FEE, "OTHER")
        if _MARKET_DATA.search(desc):
            return CashMapping(CashKind.FEE, "MARKET_DATA")
        return CashMapping(CashKind.FEE, "OTHER")
    if type_raw == "Commission Adjustments":
        return CashMapping(CashKind.FEE, "COMMISSION_ADJUSTMENT")
    if type_raw == "Advisor Fees":
        return CashMapping(CashKind.FEE, "ADVISOR_MANAGEMENT")
    if type_raw in DEPOSIT_TYPES:
        if _OWN_ACCOUNT.search(desc):
            return CashMapping(CashKind.INTERNAL_TRANSFER, "JOURNAL", FlowScope.INTERNAL, review=True)
        subkind = (
            "WIRE"
            if "WIRE" in desc
            else "ACH"
            if "ELECTRONIC FUND" in desc or "ACH" in desc
            else "CHECK"
            if "CHECK" in desc
            else "OTHER"
        )
        kind = CashKind.DEPOSIT if amount >= 0 else CashKind.WITHDRAWAL
        return CashMapping(kind, subkind, FlowScope.EXTERNAL)
    if type_raw == "Price Adjustments":
        return CashMapping(CashKind.OTHER, "BALANCE_ADJUSTMENT", review=True)
    return CashMapping(CashKind.OTHER, "UNKNOWN", review=True, known=False)


def normalize_cash_row(row: FlexRow, ctx: FlexContext) -> None:
    a = row.attrs
    if (a.get("levelOfDetail") or "").strip().upper() == "SUMMARY" or (
        a.get("accountId") or ""
    ).strip() == "-":
        ctx.ignore("CashTransactions/SUMMARY")
        return
    amount = attr_decimal(a, "amount")
    posted_date = first_date(a, "reportDate", "dateTime", "date", "settleDate") or ctx.statement.to_date
    if amount is None or posted_date is None:
        ctx.ignore("CashTransactions/incomplete")
        ctx.warn("CashTransaction rows without an amount or a date were skipped")
        return
    type_raw = attr_label(a, "type", 64) or ""
    description = attr_label(a, "description") or ""
    instrument = ctx.instruments.from_row(a)
    mapping = classify(type_raw, description, amount, instrument is not None)
    if not mapping.known:
        ctx.unknown(f"CashTransaction.type={type_raw or '(empty)'}")
    currency = (attr_text(a, "currency") or "USD").upper()[:8]
    posted_at = attr_datetime(a, "dateTime")
    settle_date = attr_date(a, "settleDate")
    ex_date = attr_date(a, "exDate")
    key = attr_text(a, "transactionID") or ctx.fallback_key(
        "cash",
        posted_date,
        mapping.kind.value,
        f"{type_raw}|{currency}|{posted_at.isoformat() if posted_at else ''}",
        instrument,
        amount=amount,
        effective_date=ex_date,
        settle_date=settle_date,
    )
    trade_id = attr_text(a, "tradeID")
    related = ctx.trade_key_by_trade_id.get((ctx.account, trade_id)) if trade_id else None
    ctx.batch.cash.append(
        CashRecord(
            account=ctx.account,
            natural_key=key[:160],
            kind=mapping.kind,
            amount=amount,
            currency=currency,
            posted_date=posted_date,
            instrument=instrument,
            subkind=mapping.subkind,
            posted_at=posted_at,
            settle_date=settle_date,
            ex_date=ex_date,
            fx_rate_to_base=attr_decimal(a, "fxRateToBase"),
            flow_scope=mapping.flow,
            action_id=attr_text(a, "actionID", 64),
            related_key=related,
            needs_review=mapping.review,
            raw_type=type_raw or None,
            raw_subtype=attr_text(a, "code", 64),
            description=description or None,
        )
    )


def _natural_sign(record: CashRecord) -> int:
    return 1 if record.kind in INCOME_KINDS else -1


def _pair_reversals(records: list[CashRecord]) -> None:
    """Rows sharing an actionID whose amounts cancel: the one against the kind's natural sign is
    the reversal (a negative dividend, a positive withholding); the other becomes REVERSED."""
    groups: dict[tuple[str, str, str, bool], list[CashRecord]] = defaultdict(list)
    for record in records:
        if record.action_id and (record.kind in INCOME_KINDS or record.kind in TAX_KINDS):
            family = record.kind in INCOME_KINDS
            groups[(record.account, record.action_id, record.currency, family)].append(record)
    for group in groups.values():
        if len(group) < 2:
            continue
        originals = [r for r in group if r.amount * _natural_sign(r) > 0]
        for reversal in (r for r in group if r.amount * _natural_sign(r) < 0):
            match = next((o for o in originals if o.amount == -reversal.amount), None)
            if match is None:
                continue
            originals.remove(match)
            match.status = RecordStatus.REVERSED
            reversal.related_key = match.natural_key
            if reversal.kind is CashKind.WITHHOLDING_REFUND:
                reversal.kind = CashKind.WITHHOLDING_TAX  # taxonomy §3.1: it reverses the tax, not a refund
                reversal.subkind = match.subkind


def _income_for(
    tax: CashRecord,
    by_action: dict[tuple[str, str], list[CashRecord]],
    by_instrument: dict[tuple[str, str], list[CashRecord]],
) -> CashRecord | None:
    """taxonomy §4.1 steps 1-3: same actionID; else the one income row of the instrument on the
    same day; else the one within 30 days before to 5 days after."""
    if tax.action_id:
        candidates = [
            c for c in by_action.get((tax.account, tax.action_id), ()) if c.status is RecordStatus.POSTED
        ]
        if candidates:
            return candidates[0]
    if tax.instrument is None:
        return None
    rows = by_instrument.get((tax.account, tax.instrument.key), [])
    same_day = [r for r in rows if r.posted_date == tax.posted_date and r.amount > 0]
    if len(same_day) == 1:
        return same_day[0]
    if same_day:
        return None
    window = [
        r
        for r in rows
        if r.amount > 0 and -timedelta(days=5) <= tax.posted_date - r.posted_date <= timedelta(days=30)
    ]
    return window[0] if len(window) == 1 else None


def link_cash(ctx: FlexContext) -> None:
    records = ctx.batch.cash
    _pair_reversals(records)
    by_action: dict[tuple[str, str], list[CashRecord]] = defaultdict(list)
    by_instrument: dict[tuple[str, str], list[CashRecord]] = defaultdict(list)
    interest: dict[tuple[str, str, int, int], list[CashRecord]] = defaultdict(list)
    for record in records:
        if record.kind in INCOME_KINDS:
            if record.action_id:
                by_action[(record.account, record.action_id)].append(record)
            if record.instrument is not None:
                by_instrument[(record.account, record.instrument.key)].append(record)
        elif record.kind is CashKind.INTEREST_RECEIVED:
            month = (record.account, record.currency, record.posted_date.year, record.posted_date.month)
            interest[month].append(record)
    for record in records:
        if record.related_key is not None:
            continue
        if record.kind in TAX_KINDS or (record.kind is CashKind.FEE and record.subkind == "ADR"):
            if record.instrument is None and record.kind in TAX_KINDS:
                month = (record.account, record.currency, record.posted_date.year, record.posted_date.month)
                matches = interest.get(month, [])
                income = matches[0] if len(matches) == 1 else None  # §4.1 step 5: interest withholding
            else:
                income = _income_for(record, by_action, by_instrument)
            if income is not None:
                record.related_key = income.natural_key
                if (
                    record.kind is CashKind.WITHHOLDING_TAX
                    and income.amount > 0
                    and abs(record.amount) > income.amount * HIGH_WITHHOLDING_RATE
                ):
                    record.needs_review = True
            elif record.kind is CashKind.WITHHOLDING_TAX:
                record.needs_review = True  # §4.1: no single income row to tie the tax to
