"""What a Flex file should import, computed independently of foliosync's parser.

Reads the XML with `xml.etree.ElementTree` (the fixtures are small and trusted) and applies the
documented rules directly: executions are `<Trade>` rows with levelOfDetail EXECUTION or none;
assetCategory CASH rows are currency conversions (two cash legs, plus a fee leg when charged);
CashTransaction SUMMARY rows (accountId "-") are skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

OPTION_EVENT_TYPES = {"Assignment", "Exercise", "Expiration", "Cash Settlement"}


def dec(text: str | None) -> Decimal:
    text = (text or "").strip().replace(",", "")
    return Decimal(text) if text not in ("", "-", "--", "N/A") else Decimal(0)


@dataclass
class Expected:
    accounts: set[str] = field(default_factory=set)
    trades: int = 0
    trades_by_account: Counter[str] = field(default_factory=Counter)
    fx_legs: int = 0
    cash_rows: int = 0
    cash_by_type_currency: dict[tuple[str, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    trade_quantity_by_currency: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    trade_commission_by_currency: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    trade_proceeds_by_currency: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    closed_lots: int = 0
    open_lots: int = 0
    positions: int = 0
    corporate_actions: int = 0
    transfers: int = 0
    option_events: int = 0

    @property
    def cash_records(self) -> int:
        return self.cash_rows + self.fx_legs


def _statements(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("FlexStatement"))


def expected_from(path: Path) -> Expected:
    root = ET.parse(path).getroot()
    exp = Expected()
    for statement in _statements(root):
        account = statement.get("accountId", "")
        exp.accounts.add(account)
        positions: set[tuple[str, str]] = set()
        for section in statement:
            for row in section.iter():
                tag, a = row.tag, row.attrib
                if row is section and not a:
                    continue
                if section.tag == "Trades":
                    level = a.get("levelOfDetail", "")
                    if tag == "Lot" or level == "CLOSED_LOT":
                        exp.closed_lots += 1
                    elif tag == "Trade" and level in ("", "EXECUTION"):
                        if a.get("assetCategory") == "CASH":
                            exp.fx_legs += 2 + (1 if dec(a.get("ibCommission")) else 0)
                        else:
                            exp.trades += 1
                            exp.trades_by_account[account] += 1
                            currency = a.get("currency", "USD")
                            exp.trade_quantity_by_currency[currency] += dec(a.get("quantity"))
                            exp.trade_commission_by_currency[currency] += dec(a.get("ibCommission"))
                            if a.get("assetCategory") != "FUT":
                                exp.trade_proceeds_by_currency[currency] += dec(a.get("proceeds"))
                elif section.tag == "CashTransactions" and tag == "CashTransaction":
                    if a.get("levelOfDetail") == "SUMMARY" or a.get("accountId") == "-":
                        continue
                    exp.cash_rows += 1
                    exp.cash_by_type_currency[(a.get("type", ""), a.get("currency", "USD"))] += dec(
                        a.get("amount")
                    )
                elif section.tag == "OpenPositions" and tag == "OpenPosition":
                    if a.get("levelOfDetail") == "LOT":
                        exp.open_lots += 1
                    positions.add((a.get("reportDate", ""), a.get("conid") or a.get("symbol", "")))
                elif section.tag == "CorporateActions" and tag == "CorporateAction":
                    exp.corporate_actions += 1
                elif section.tag == "Transfers" and tag == "Transfer":
                    exp.transfers += 1
                elif section.tag == "OptionEAE" and row is not section:
                    if (a.get("transactionType") or a.get("type")) in OPTION_EVENT_TYPES:
                        exp.option_events += 1
        exp.positions += len(positions)
    return exp


def cash_report_check(path: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(account, currency) -> (starting cash + every flow the file shows, reported ending cash) for
    each per-currency CashReport row: the figures reconciliation must compare."""
    root = ET.parse(path).getroot()
    result: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for statement in _statements(root):
        account = statement.get("accountId", "")
        flows: dict[str, Decimal] = defaultdict(Decimal)
        for row in statement.iter("CashTransaction"):
            if row.get("levelOfDetail") != "SUMMARY" and row.get("accountId") != "-":
                flows[row.get("currency", "USD")] += dec(row.get("amount"))
        for row in statement.iter("Trade"):
            if row.get("levelOfDetail", "EXECUTION") != "EXECUTION":
                continue
            currency = row.get("currency", "USD")
            fee_currency = row.get("ibCommissionCurrency") or currency
            flows[fee_currency] += dec(row.get("ibCommission"))
            flows[currency] += dec(row.get("taxes"))
            if row.get("assetCategory") == "CASH":
                flows[row.get("symbol", "").split(".")[0]] += dec(row.get("quantity"))
                flows[currency] += dec(row.get("proceeds"))
            elif row.get("assetCategory") != "FUT":  # futures settle through variation margin
                flows[currency] += dec(row.get("proceeds"))
        for row in statement.iter("CashReportCurrency"):
            currency = row.get("currency", "")
            if currency == "BASE_SUMMARY" or row.get("levelOfDetail") == "BaseCurrency":
                continue
            ledger = dec(row.get("startingCash")) + flows[currency] + dec(row.get("cashSettlingMtm"))
            result[(account, currency)] = (ledger, dec(row.get("endingCash")))
    return result
