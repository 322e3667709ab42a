"""Fidelity's free-text `Action` column, classified by one ordered table (shared taxonomy.md §3.4).

Normalize first (strip, upper-case, drop a trailing `(Cash)`/`(Margin)`/`(Shorts)`), then take the
**first** rule whose anchored prefix fits. Rules the taxonomy marks `?` set `needs_review`.
Anything unmatched is OTHER/UNKNOWN with `needs_review`, counted in `Batch.unknown_types`.
docs/mappings/fidelity.md lists this table as implemented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from foliosync.ledger.taxonomy import CashKind, CorporateActionKind, FlowScope, TradeKind

_SUFFIX = re.compile(r"\s*\((CASH|MARGIN|SHORTS)\)\s*$")
_SPACES = re.compile(r"\s+")


class Family(StrEnum):
    TRADE = "trade"
    CASH = "cash"
    OPTION_EVENT = "option_event"  # a zero-cash option trade plus its OptionEventRecord
    CORPORATE_ACTION = "corporate_action"
    TRANSFER = "transfer"
    SIGNED_CASH = "signed_cash"  # kind chosen by the amount's sign (DEPOSIT / WITHDRAWAL ...)


@dataclass(frozen=True, slots=True)
class Rule:
    number: int  # the row of taxonomy §3.4
    prefixes: tuple[str, ...]
    family: Family
    label: str  # stored as raw_type: the pattern that matched, never the free text
    trade_kind: TradeKind | None = None
    cash_kind: CashKind | None = None
    negative_kind: CashKind | None = None  # SIGNED_CASH: the kind for a negative amount
    corporate_kind: CorporateActionKind | None = None
    subkind: str | None = None
    flow_scope: FlowScope = FlowScope.NONE
    needs_review: bool = False
    underlying_of_event: bool = False  # a stock leg of an assignment or exercise
    contains: bool = False  # match anywhere (split wording varies), not only as a prefix


T, C, OE, A, X, S = (
    Family.TRADE,
    Family.CASH,
    Family.OPTION_EVENT,
    Family.CORPORATE_ACTION,
    Family.TRANSFER,
    Family.SIGNED_CASH,
)
EXT, INT = FlowScope.EXTERNAL, FlowScope.INTERNAL

RULES: tuple[Rule, ...] = (
    Rule(1, ("YOU BOUGHT OPENING TRANSACTION",), T, "YOU BOUGHT OPENING", trade_kind=TradeKind.BUY_TO_OPEN),
    Rule(2, ("YOU SOLD OPENING TRANSACTION",), T, "YOU SOLD OPENING", trade_kind=TradeKind.SELL_TO_OPEN),
    Rule(3, ("YOU BOUGHT CLOSING TRANSACTION",), T, "YOU BOUGHT CLOSING", trade_kind=TradeKind.BUY_TO_CLOSE),
    Rule(4, ("YOU SOLD CLOSING TRANSACTION",), T, "YOU SOLD CLOSING", trade_kind=TradeKind.SELL_TO_CLOSE),
    Rule(
        5,
        ("YOU BOUGHT ASSIGNED",),
        T,
        "YOU BOUGHT ASSIGNED",
        trade_kind=TradeKind.BUY,
        underlying_of_event=True,
    ),
    Rule(
        5,
        ("YOU SOLD ASSIGNED",),
        T,
        "YOU SOLD ASSIGNED",
        trade_kind=TradeKind.SELL,
        underlying_of_event=True,
        needs_review=True,
    ),
    Rule(
        6,
        ("YOU BOUGHT EXERCISED",),
        T,
        "YOU BOUGHT EXERCISED",
        trade_kind=TradeKind.BUY,
        underlying_of_event=True,
        needs_review=True,
    ),
    Rule(
        6,
        ("YOU SOLD EXERCISED",),
        T,
        "YOU SOLD EXERCISED",
        trade_kind=TradeKind.SELL,
        underlying_of_event=True,
        needs_review=True,
    ),
    Rule(7, ("YOU SOLD SHORT",), T, "YOU SOLD SHORT", trade_kind=TradeKind.SELL_SHORT, needs_review=True),
    Rule(
        7,
        ("YOU BOUGHT SHORT COVER",),
        T,
        "YOU BOUGHT SHORT COVER",
        trade_kind=TradeKind.BUY_TO_COVER,
        needs_review=True,
    ),
    Rule(8, ("YOU BOUGHT",), T, "YOU BOUGHT", trade_kind=TradeKind.BUY),
    Rule(8, ("YOU SOLD",), T, "YOU SOLD", trade_kind=TradeKind.SELL),
    Rule(9, ("ASSIGNED AS OF", "ASSIGNED"), OE, "ASSIGNED", trade_kind=TradeKind.OPTION_ASSIGNMENT),
    Rule(
        10, ("EXPIRED CALL", "EXPIRED PUT", "EXPIRED"), OE, "EXPIRED", trade_kind=TradeKind.OPTION_EXPIRATION
    ),
    Rule(11, ("EXERCISED",), OE, "EXERCISED", trade_kind=TradeKind.OPTION_EXERCISE),
    Rule(12, ("REINVESTMENT",), T, "REINVESTMENT", trade_kind=TradeKind.BUY),
    Rule(13, ("DIVIDEND RECEIVED",), C, "DIVIDEND RECEIVED", cash_kind=CashKind.DIVIDEND),
    Rule(
        14,
        ("LONG-TERM CAP GAIN",),
        C,
        "LONG-TERM CAP GAIN",
        cash_kind=CashKind.CAPITAL_GAIN_DISTRIBUTION,
        subkind="LONG_TERM",
    ),
    Rule(
        14,
        ("SHORT-TERM CAP GAIN",),
        C,
        "SHORT-TERM CAP GAIN",
        cash_kind=CashKind.CAPITAL_GAIN_DISTRIBUTION,
        subkind="SHORT_TERM",
    ),
    Rule(
        15,
        ("RETURN OF CAPITAL",),
        C,
        "RETURN OF CAPITAL",
        cash_kind=CashKind.RETURN_OF_CAPITAL,
        needs_review=True,
    ),
    Rule(
        16,
        ("FOREIGN TAX PAID",),
        S,
        "FOREIGN TAX PAID",
        cash_kind=CashKind.WITHHOLDING_REFUND,
        negative_kind=CashKind.WITHHOLDING_TAX,
        subkind="DIVIDEND",
    ),
    Rule(
        17,
        ("INTEREST EARNED",),
        C,
        "INTEREST EARNED",
        cash_kind=CashKind.INTEREST_RECEIVED,
        subkind="CREDIT_BALANCE",
    ),
    Rule(
        18,
        ("MARGIN INTEREST",),
        C,
        "MARGIN INTEREST",
        cash_kind=CashKind.INTEREST_PAID,
        subkind="MARGIN",
        needs_review=True,
    ),
    Rule(19, ("FEE CHARGED",), C, "FEE CHARGED", cash_kind=CashKind.FEE, subkind="OTHER"),
    Rule(
        20,
        ("DIRECT DEPOSIT",),
        C,
        "DIRECT DEPOSIT",
        cash_kind=CashKind.DEPOSIT,
        subkind="ACH",
        flow_scope=EXT,
    ),
    Rule(
        21,
        ("DIRECT DEBIT",),
        C,
        "DIRECT DEBIT",
        cash_kind=CashKind.WITHDRAWAL,
        subkind="BILL_PAY",
        flow_scope=EXT,
    ),
    Rule(
        21,
        ("DEBIT CARD PURCHASE",),
        C,
        "DEBIT CARD PURCHASE",
        cash_kind=CashKind.WITHDRAWAL,
        subkind="DEBIT_CARD",
        flow_scope=EXT,
    ),
    Rule(
        21,
        ("BILL PAYMENT",),
        C,
        "BILL PAYMENT",
        cash_kind=CashKind.WITHDRAWAL,
        subkind="BILL_PAY",
        flow_scope=EXT,
        needs_review=True,
    ),
    Rule(
        21,
        ("CHECK PAID",),
        C,
        "CHECK PAID",
        cash_kind=CashKind.WITHDRAWAL,
        subkind="CHECK",
        flow_scope=EXT,
        needs_review=True,
    ),
    Rule(
        22,
        ("ELECTRONIC FUNDS TRANSFER RECEIVED",),
        C,
        "EFT RECEIVED",
        cash_kind=CashKind.DEPOSIT,
        subkind="ACH",
        flow_scope=EXT,
    ),
    Rule(
        22,
        ("ELECTRONIC FUNDS TRANSFER PAID",),
        C,
        "EFT PAID",
        cash_kind=CashKind.WITHDRAWAL,
        subkind="ACH",
        flow_scope=EXT,
    ),
    # Between Fidelity accounts ("VS <acct>"): INTERNAL until the link step finds the other leg.
    Rule(
        23,
        ("TRANSFERRED FROM", "TRANSFERRED TO"),
        C,
        "TRANSFERRED",
        cash_kind=CashKind.INTERNAL_TRANSFER,
        subkind="JOURNAL",
        flow_scope=INT,
    ),
    Rule(24, ("TRANSFER OF ASSETS ACAT RECEIVE",), X, "ACAT RECEIVE", flow_scope=EXT),
    Rule(24, ("TRANSFER OF ASSETS ACAT DELIVER",), X, "ACAT DELIVER", flow_scope=EXT),
    Rule(
        25,
        ("PURCHASE INTO CORE ACCOUNT", "REDEMPTION FROM CORE ACCOUNT"),
        C,
        "CORE SWEEP",
        cash_kind=CashKind.INTERNAL_TRANSFER,
        subkind="SWEEP",
    ),
    Rule(
        26,
        ("CONTRIBUTION",),
        C,
        "CONTRIBUTION",
        cash_kind=CashKind.DEPOSIT,
        subkind="CONTRIBUTION",
        flow_scope=EXT,
        needs_review=True,
    ),
    Rule(
        26,
        ("NORMAL DISTRIBUTION",),
        C,
        "NORMAL DISTRIBUTION",
        cash_kind=CashKind.WITHDRAWAL,
        subkind="DISTRIBUTION",
        flow_scope=EXT,
        needs_review=True,
    ),
    Rule(
        26,
        ("ROLLOVER",),
        S,
        "ROLLOVER",
        cash_kind=CashKind.DEPOSIT,
        negative_kind=CashKind.WITHDRAWAL,
        subkind="ROLLOVER",
        flow_scope=EXT,
        needs_review=True,
    ),
    Rule(
        27,
        ("FED TAX W/H",),
        C,
        "FED TAX W/H",
        cash_kind=CashKind.TAX_OTHER,
        subkind="FEDERAL",
        needs_review=True,
    ),
    Rule(
        27,
        ("STATE TAX W/H",),
        C,
        "STATE TAX W/H",
        cash_kind=CashKind.TAX_OTHER,
        subkind="STATE",
        needs_review=True,
    ),
    Rule(
        28,
        ("REVERSE SPLIT",),
        A,
        "REVERSE SPLIT",
        corporate_kind=CorporateActionKind.REVERSE_SPLIT,
        needs_review=True,
    ),
    Rule(
        28, ("SPLIT",), A, "SPLIT", corporate_kind=CorporateActionKind.SPLIT, needs_review=True, contains=True
    ),
    Rule(
        29,
        ("IN LIEU OF FRX SHARE", "CASH IN LIEU"),
        C,
        "CASH IN LIEU",
        cash_kind=CashKind.CASH_IN_LIEU,
        needs_review=True,
    ),
    # A share DISTRIBUTION is how Fidelity books forward splits and stock dividends; the wording
    # does not say which, so it is a SPLIT (shares added) for review. A cash one falls to OTHER.
    Rule(
        28, ("DISTRIBUTION",), A, "DISTRIBUTION", corporate_kind=CorporateActionKind.SPLIT, needs_review=True
    ),
    Rule(
        30,
        ("MER PAYOUT",),
        A,
        "MER PAYOUT",
        corporate_kind=CorporateActionKind.MERGER_CASH,
        needs_review=True,
    ),
    Rule(30, ("MERGER",), A, "MERGER", corporate_kind=CorporateActionKind.MERGER_STOCK, needs_review=True),
    Rule(
        30, ("EXCHANGED",), A, "EXCHANGED", corporate_kind=CorporateActionKind.MERGER_STOCK, needs_review=True
    ),
    Rule(
        30,
        ("NAME CHANGED",),
        A,
        "NAME CHANGED",
        corporate_kind=CorporateActionKind.SYMBOL_CHANGE,
        needs_review=True,
    ),
    Rule(
        31,
        ("JOURNALED",),
        C,
        "JOURNALED",
        cash_kind=CashKind.INTERNAL_TRANSFER,
        subkind="JOURNAL",
        flow_scope=INT,
        needs_review=True,
    ),
)


def normalize_action(action: str) -> str:
    """Trim, upper-case, collapse spaces and drop the `(Cash)`/`(Margin)`/`(Shorts)` suffix."""
    text = _SPACES.sub(" ", action).strip().upper()
    return _SUFFIX.sub("", text)


def classify(action: str) -> Rule | None:
    """The first rule that fits the normalized action, or None (OTHER/UNKNOWN)."""
    text = normalize_action(action)
    for rule in RULES:
        for prefix in rule.prefixes:
            if text.startswith(prefix) or (rule.contains and f" {prefix}" in text):
                return rule
    return None
