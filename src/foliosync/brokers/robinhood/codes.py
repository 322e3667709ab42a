"""Robinhood's `Trans Code` column (shared taxonomy.md §3.5), as implemented.

`Quantity` is unsigned: the direction comes from the code. Codes the taxonomy marks `?` set
`needs_review`; a code not listed here becomes OTHER/UNKNOWN with `needs_review` and is counted
in `Batch.unknown_types`. docs/mappings/robinhood.md shows this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from foliosync.ledger.taxonomy import CashKind, CorporateActionKind, FlowScope, TradeKind


class Family(StrEnum):
    TRADE = "trade"
    OPTION_EVENT = "option_event"
    CASH = "cash"
    SIGNED_CASH = "signed_cash"  # DEPOSIT when the amount is >= 0, else `negative_kind`
    TRANSFER = "transfer"
    CORPORATE_ACTION = "corporate_action"


@dataclass(frozen=True, slots=True)
class Code:
    family: Family
    trade_kind: TradeKind | None = None
    cash_kind: CashKind | None = None
    negative_kind: CashKind | None = None
    corporate_kind: CorporateActionKind | None = None
    subkind: str | None = None
    flow_scope: FlowScope = FlowScope.NONE
    option: bool = False  # the instrument is the contract in Description
    incoming: bool = True  # TRANSFER: direction
    needs_review: bool = False


T, E, C, S, X, A = (
    Family.TRADE,
    Family.OPTION_EVENT,
    Family.CASH,
    Family.SIGNED_CASH,
    Family.TRANSFER,
    Family.CORPORATE_ACTION,
)

CODES: dict[str, Code] = {
    "BUY": Code(T, trade_kind=TradeKind.BUY),
    "SELL": Code(T, trade_kind=TradeKind.SELL),
    "BTO": Code(T, trade_kind=TradeKind.BUY_TO_OPEN, option=True),
    "STO": Code(T, trade_kind=TradeKind.SELL_TO_OPEN, option=True),
    "BTC": Code(T, trade_kind=TradeKind.BUY_TO_CLOSE, option=True),
    "STC": Code(T, trade_kind=TradeKind.SELL_TO_CLOSE, option=True),
    "OEXP": Code(E, trade_kind=TradeKind.OPTION_EXPIRATION, option=True),
    "OASGN": Code(E, trade_kind=TradeKind.OPTION_ASSIGNMENT, option=True),
    "OEXCS": Code(E, trade_kind=TradeKind.OPTION_EXERCISE, option=True),
    "OCA": Code(A, corporate_kind=CorporateActionKind.OTHER, option=True, needs_review=True),
    "CDIV": Code(C, cash_kind=CashKind.DIVIDEND),
    "DIV": Code(C, cash_kind=CashKind.DIVIDEND, needs_review=True),
    "DTAX": Code(
        S, cash_kind=CashKind.WITHHOLDING_REFUND, negative_kind=CashKind.WITHHOLDING_TAX, subkind="DIVIDEND"
    ),
    "DIVNRA": Code(
        S, cash_kind=CashKind.WITHHOLDING_REFUND, negative_kind=CashKind.WITHHOLDING_TAX, subkind="NRA"
    ),
    "ROC": Code(C, cash_kind=CashKind.RETURN_OF_CAPITAL),
    "INT": Code(C, cash_kind=CashKind.INTEREST_RECEIVED, subkind="CREDIT_BALANCE"),
    "SLIP": Code(C, cash_kind=CashKind.INTEREST_RECEIVED, subkind="SECURITIES_LENDING"),
    "MINT": Code(C, cash_kind=CashKind.INTEREST_PAID, subkind="MARGIN", needs_review=True),
    "ACH": Code(
        S,
        cash_kind=CashKind.DEPOSIT,
        negative_kind=CashKind.WITHDRAWAL,
        subkind="ACH",
        flow_scope=FlowScope.EXTERNAL,
    ),
    "RTP": Code(
        S,
        cash_kind=CashKind.DEPOSIT,
        negative_kind=CashKind.WITHDRAWAL,
        subkind="OTHER",
        flow_scope=FlowScope.EXTERNAL,
        needs_review=True,
    ),
    "DRFRO": Code(C, cash_kind=CashKind.DEPOSIT, subkind="ROLLOVER", flow_scope=FlowScope.EXTERNAL),
    "FUTSWP": Code(
        C, cash_kind=CashKind.INTERNAL_TRANSFER, subkind="INTER_ENTITY", flow_scope=FlowScope.INTERNAL
    ),
    "JNLC": Code(C, cash_kind=CashKind.INTERNAL_TRANSFER, subkind="JOURNAL", flow_scope=FlowScope.INTERNAL),
    "JNLS": Code(X, flow_scope=FlowScope.INTERNAL, needs_review=True),
    "ACATI": Code(X, flow_scope=FlowScope.EXTERNAL, needs_review=True),
    "REC": Code(X, flow_scope=FlowScope.EXTERNAL, needs_review=True),
    "GOLD": Code(C, cash_kind=CashKind.FEE, subkind="OTHER"),
    "AFEE": Code(C, cash_kind=CashKind.FEE, subkind="ADR"),
    "DFEE": Code(C, cash_kind=CashKind.FEE, subkind="OTHER", needs_review=True),
    "SPL": Code(A, corporate_kind=CorporateActionKind.SPLIT),
    "SPR": Code(A, corporate_kind=CorporateActionKind.REVERSE_SPLIT, needs_review=True),
    "SDIV": Code(A, corporate_kind=CorporateActionKind.STOCK_DIVIDEND, needs_review=True),
    "SXCH": Code(A, corporate_kind=CorporateActionKind.SYMBOL_CHANGE, needs_review=True),
    "MTM": Code(C, cash_kind=CashKind.OTHER, subkind="FUTURES_VARIATION", needs_review=True),
}


def lookup(trans_code: str) -> Code | None:
    return CODES.get(trans_code.strip().upper())
