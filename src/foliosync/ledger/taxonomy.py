"""Canonical kinds (docs/ledger.md, after shared taxonomy.md §1).

Stored as their string values; an unknown broker type maps to OTHER with `needs_review=True`.
"""

from __future__ import annotations

from enum import StrEnum


class Broker(StrEnum):
    IBKR = "ibkr"
    TASTYTRADE = "tastytrade"
    SCHWAB = "schwab"
    FIDELITY = "fidelity"
    ROBINHOOD = "robinhood"


class SourceFormat(StrEnum):
    API = "api"
    FLEX_XML = "flex_xml"
    CSV = "csv"
    JSON_EXPORT = "json_export"
    LIVE = "live"
    COMPUTED = "computed"


class AssetCategory(StrEnum):
    STK = "STK"
    OPT = "OPT"
    FUT = "FUT"
    FOP = "FOP"
    CASH = "CASH"  # FX pairs
    BOND = "BOND"
    FUND = "FUND"
    WAR = "WAR"
    IOPT = "IOPT"
    CFD = "CFD"
    CRYPTO = "CRYPTO"
    BILL = "BILL"
    CMDTY = "CMDTY"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, raw: str | None) -> AssetCategory:
        if not raw:
            return cls.OTHER
        try:
            return cls(raw.strip().upper())
        except ValueError:
            return cls.OTHER


class RecordStatus(StrEnum):
    POSTED = "POSTED"
    PENDING = "PENDING"
    CANCELLED = "CANCELLED"
    REVERSED = "REVERSED"


class TradeKind(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    SELL_SHORT = "SELL_SHORT"
    BUY_TO_COVER = "BUY_TO_COVER"
    BUY_TO_OPEN = "BUY_TO_OPEN"
    SELL_TO_OPEN = "SELL_TO_OPEN"
    BUY_TO_CLOSE = "BUY_TO_CLOSE"
    SELL_TO_CLOSE = "SELL_TO_CLOSE"
    OPTION_EXERCISE = "OPTION_EXERCISE"
    OPTION_ASSIGNMENT = "OPTION_ASSIGNMENT"
    OPTION_EXPIRATION = "OPTION_EXPIRATION"
    OPTION_CASH_SETTLEMENT = "OPTION_CASH_SETTLEMENT"
    FX_CONVERSION = "FX_CONVERSION"
    OTHER = "OTHER"


class CashKind(StrEnum):
    DIVIDEND = "DIVIDEND"
    PAYMENT_IN_LIEU = "PAYMENT_IN_LIEU"
    WITHHOLDING_TAX = "WITHHOLDING_TAX"
    WITHHOLDING_REFUND = "WITHHOLDING_REFUND"
    FEE = "FEE"
    INTEREST_RECEIVED = "INTEREST_RECEIVED"
    INTEREST_PAID = "INTEREST_PAID"
    BOND_INTEREST = "BOND_INTEREST"
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    INTERNAL_TRANSFER = "INTERNAL_TRANSFER"
    TAX_OTHER = "TAX_OTHER"
    RETURN_OF_CAPITAL = "RETURN_OF_CAPITAL"
    CAPITAL_GAIN_DISTRIBUTION = "CAPITAL_GAIN_DISTRIBUTION"
    CASH_IN_LIEU = "CASH_IN_LIEU"
    FX_CONVERSION = "FX_CONVERSION"
    OTHER = "OTHER"


class FlowScope(StrEnum):
    EXTERNAL = "EXTERNAL"
    INTERNAL = "INTERNAL"
    NONE = "NONE"


class OptionEventKind(StrEnum):
    EXERCISE = "EXERCISE"
    ASSIGNMENT = "ASSIGNMENT"
    EXPIRATION = "EXPIRATION"
    CASH_SETTLEMENT = "CASH_SETTLEMENT"


class CorporateActionKind(StrEnum):
    SPLIT = "SPLIT"
    REVERSE_SPLIT = "REVERSE_SPLIT"
    SYMBOL_CHANGE = "SYMBOL_CHANGE"
    MERGER_STOCK = "MERGER_STOCK"
    MERGER_CASH = "MERGER_CASH"
    SPIN_OFF = "SPIN_OFF"
    STOCK_DIVIDEND = "STOCK_DIVIDEND"
    DELISTED_WORTHLESS = "DELISTED_WORTHLESS"
    MATURITY = "MATURITY"
    OTHER = "OTHER"


class TransferDirection(StrEnum):
    IN = "IN"
    OUT = "OUT"


class LotStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class LotOrigin(StrEnum):
    BROKER = "BROKER"
    COMPUTED = "COMPUTED"


class SyncStatus(StrEnum):
    NEVER = "NEVER"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


class AccountStatus(StrEnum):
    PENDING = "PENDING"  # added, never synced or linked
    CONNECTED = "CONNECTED"
    NEEDS_REAUTH = "NEEDS_REAUTH"
    DISABLED = "DISABLED"
