"""Schwab's Trader API vocabulary mapped to canonical kinds: taxonomy.md §3.3 as data.

The tables here are what docs/mappings/schwab-api.md documents. `transactions.py` applies them
to activities; rows marked "?" in §3.3 come back with `needs_review` set.
"""

from __future__ import annotations

import re
from decimal import Decimal

from foliosync.brokers.schwab.legs import SecurityLeg
from foliosync.ledger.taxonomy import AssetCategory, CashKind, OptionEventKind, RecordStatus, TradeKind

INFORMATIONAL_TYPES = frozenset({"MEMORANDUM", "SMA_ADJUSTMENT", "MARGIN_CALL"})

STATUS = {
    "VALID": RecordStatus.POSTED,
    "PENDING": RecordStatus.PENDING,
    "INVALID": RecordStatus.CANCELLED,
}


# DIVIDEND_OR_INTEREST: the meaning is in `description` (§3.3). First match wins, so the more
# specific wording comes first ("NON-QUALIFIED" before "QUALIFIED", "MARGIN INT" before "INTEREST").
# (pattern, kind, subkind, needs_review: the §3.3 rows marked "?")
INCOME_RULES: tuple[tuple[re.Pattern[str], CashKind, str | None, bool], ...] = (
    (re.compile(r"MARGIN\s+INT"), CashKind.INTEREST_PAID, "MARGIN", True),
    (re.compile(r"FOREIGN\s+TAX"), CashKind.WITHHOLDING_TAX, "DIVIDEND", False),
    (re.compile(r"\bNRA\b"), CashKind.WITHHOLDING_TAX, "NRA", False),
    (re.compile(r"CASH\s+IN\s+LIEU"), CashKind.CASH_IN_LIEU, None, True),
    (re.compile(r"NON-?\s?TAXABLE|RETURN\s+OF\s+CAPITAL"), CashKind.RETURN_OF_CAPITAL, None, True),
    (
        re.compile(r"(LONG\s+TERM|\bLT\b).*CAP|CAP.*GAIN.*(LONG|\bLT\b)"),
        CashKind.CAPITAL_GAIN_DISTRIBUTION,
        "LONG_TERM",
        True,
    ),
    (
        re.compile(r"(SHORT\s+TERM|\bST\b).*CAP|CAP.*GAIN.*(SHORT|\bST\b)"),
        CashKind.CAPITAL_GAIN_DISTRIBUTION,
        "SHORT_TERM",
        True,
    ),
    (re.compile(r"CAP(ITAL)?\s+GAIN"), CashKind.CAPITAL_GAIN_DISTRIBUTION, None, True),
    (re.compile(r"NON-?\s?QUALIFIED"), CashKind.DIVIDEND, "NON_QUALIFIED", False),
    (re.compile(r"QUALIFIED\s+DIV"), CashKind.DIVIDEND, "QUALIFIED", False),
    (re.compile(r"ORDINARY\s+DIV|CASH\s+DIV"), CashKind.DIVIDEND, "ORDINARY", False),
    (re.compile(r"BANK\s+INT"), CashKind.INTEREST_RECEIVED, "BANK_SWEEP", False),
    (re.compile(r"CREDIT\s+INT|INTEREST"), CashKind.INTEREST_RECEIVED, "CREDIT_BALANCE", False),
    (re.compile(r"DIVIDEND|\bDIV\b"), CashKind.DIVIDEND, "ORDINARY", True),
)

# Money movements: type -> (kind, subkind); the sign of netAmount carries the direction.
MONEY = {
    "ACH_RECEIPT": (CashKind.DEPOSIT, "ACH"),
    "ACH_DISBURSEMENT": (CashKind.WITHDRAWAL, "ACH"),
    "WIRE_IN": (CashKind.DEPOSIT, "WIRE"),
    "WIRE_OUT": (CashKind.WITHDRAWAL, "WIRE"),
    "CASH_RECEIPT": (CashKind.DEPOSIT, "OTHER"),
    "CASH_DISBURSEMENT": (CashKind.WITHDRAWAL, "OTHER"),
}

OPTION_EVENTS = (
    (re.compile(r"EXPIR"), OptionEventKind.EXPIRATION, TradeKind.OPTION_EXPIRATION, False),
    (re.compile(r"ASSIGN"), OptionEventKind.ASSIGNMENT, TradeKind.OPTION_ASSIGNMENT, True),
    (re.compile(r"EXERCI"), OptionEventKind.EXERCISE, TradeKind.OPTION_EXERCISE, True),
)
TRANSFER_WORDING = re.compile(r"\bACAT|TRANSFER|\bTRF\b|DELIVER|RECEIVE")


def classify_income(description: str, amount: Decimal) -> tuple[CashKind, str | None, bool] | None:
    """(kind, subkind, needs_review) of a DIVIDEND_OR_INTEREST row, or None when unknown."""
    text = description.upper()
    for pattern, kind, subkind, review in INCOME_RULES:
        if pattern.search(text):
            if kind is CashKind.WITHHOLDING_TAX and amount > 0:
                return CashKind.WITHHOLDING_REFUND, subkind, review
            return kind, subkind, review
    return None


def trade_kind(leg: SecurityLeg, held_before: Decimal) -> TradeKind:
    """§3.3 TRADE rows: the sign of `amount` and `positionEffect`; when the effect is missing or
    AUTOMATIC, the position held before the trade decides (a sale while long closes, a sale
    while flat or short opens a short)."""
    buying = leg.quantity > 0
    effect = leg.position_effect
    if effect not in ("OPENING", "CLOSING"):
        effect = "CLOSING" if (held_before < 0 if buying else held_before > 0) else "OPENING"
    opening = effect == "OPENING"
    if leg.instrument.asset_category is AssetCategory.OPT:
        kinds = {
            (True, True): TradeKind.BUY_TO_OPEN,
            (False, True): TradeKind.SELL_TO_OPEN,
            (True, False): TradeKind.BUY_TO_CLOSE,
            (False, False): TradeKind.SELL_TO_CLOSE,
        }
    else:
        kinds = {
            (True, True): TradeKind.BUY,
            (False, False): TradeKind.SELL,
            (False, True): TradeKind.SELL_SHORT,
            (True, False): TradeKind.BUY_TO_COVER,
        }
    return kinds[(buying, opening)]


def open_close(kind: TradeKind) -> str | None:
    if kind in (TradeKind.BUY_TO_OPEN, TradeKind.SELL_TO_OPEN, TradeKind.BUY, TradeKind.SELL_SHORT):
        return "O"
    if kind in (TradeKind.BUY_TO_CLOSE, TradeKind.SELL_TO_CLOSE, TradeKind.SELL, TradeKind.BUY_TO_COVER):
        return "C"
    return None
