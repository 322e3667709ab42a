"""A fast byte-level look over a Flex file before it is streamed into the ledger.

Streaming a large statement writes trades in chunks while the rest of the file is still unread
(docs/benchmarks/flex.md). A trade may only be written early when nothing later in the file can
change it. Three things can (normalizer.FlexNormalizer.finish):
1. a cancel or correction row later in the file marks its original fill CANCELLED (taxonomy §4.6):
   the ids that cancels point at (`origTransactionID`, `origTradeID`) are collected here, and the
   fills they name are held back until the end;
2. `fxRateToBase` filled from the account's base currency and ConversionRates: safe only when
   AccountInformation and ConversionRate rows all come before the first Trade row (the usual
   section order of a Flex query) and the base currency cannot still change;
3. SecuritiesInfo enrichment of instruments: handled after the fact (the instrument row is
   filled in at the end; the trade rows only hold the instrument's id, whose key never changes).

This is a conservative plan, not a parse: a regular expression over the raw bytes may see more
than the XML parser does (a tag inside a comment), which only holds more back. Nothing the parser
sees can escape it: element names cannot be hidden (no DTD, no entities are accepted), and a
cancel id spelled with a character reference makes the file ineligible for early writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

from foliosync.brokers.ibkr.flex_values import clean

_ORIG_ID = re.compile(rb"""orig(?:Transaction|Trade)ID\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# A tradeID named by a row that links to its trade (normalize_cash, normalize_events).
_LINKED_TRADE_ID = re.compile(
    rb"""<(?:CashTransaction|OptionEAE)\s[^>]*?\btradeID\s*=\s*(?:"([^"]*)"|'([^']*)')"""
)
_FIRST_TRADE = re.compile(rb"<Trade[\s/>]")
_LATE_FACTS = (
    re.compile(rb"<AccountInformation[\s/>]"),
    re.compile(rb"<ConversionRate[\s/>]"),
)


@dataclass(frozen=True)
class StreamPlan:
    """What may be written before the whole file is read."""

    # ids (transactionID or tradeID) that some cancel/correction row names as its original
    referenced_ids: frozenset[str]
    # AccountInformation or ConversionRate rows after the first Trade: base currencies and rates
    # are not final while trades are read, so no trade without fxRateToBase may be written early
    late_account_facts: bool
    # any row carries fxRateToBase: a base currency inferred from `fxRateToBase == 1` may change
    has_fx_rate_to_base: bool
    # tradeIDs that cash rows and option events name (their links to trades); None: unknown
    linked_trade_ids: frozenset[str] | None = None


SCAN_BLOCK = 1 << 20


def prescan(source: BinaryIO) -> StreamPlan | None:
    """Plan the streaming of a seekable file; None when it cannot be planned (a pipe, or a cancel
    id that only the XML parser can decode). The file is read once in blocks (not mapped, which
    would count the whole file in the process's resident memory) and rewound to where it was."""
    try:
        if not source.seekable():
            return None
        position = source.tell()
    except (AttributeError, OSError, ValueError):
        return None
    scan = _Scan()
    try:
        carry = b""
        while block := source.read(SCAN_BLOCK):
            data = carry + block
            # Split before the last "<": no attribute value can hold one, so every tag (and every
            # pattern searched, which lies inside one tag) is whole on one side.
            cut = data.rfind(b"<")
            if cut <= 0:
                carry = data
                continue
            scan.feed(data[:cut])
            carry = data[cut:]
        scan.feed(carry)
    finally:
        source.seek(position)
    return scan.plan()


class _Scan:
    def __init__(self) -> None:
        self.referenced: set[str] = set()
        self.linked: set[str] = set()
        self.linked_undecodable = False
        self.undecodable = False
        self.offset = 0
        self.trades_started = False
        self.late = False
        self.fx_rate = False

    def feed(self, data: bytes) -> None:
        for match in _ORIG_ID.finditer(data):
            raw = match.group(1) if match.group(1) is not None else match.group(2)
            if b"&" in raw:
                self.undecodable = True
            value = clean(raw.decode("utf-8", "replace"))
            if value is not None and value != "0":
                self.referenced.add(value)
        for match in _LINKED_TRADE_ID.finditer(data):
            raw = match.group(1) if match.group(1) is not None else match.group(2)
            if b"&" in raw:
                self.linked_undecodable = True  # spelled with a reference: keep every trade's key
            value = clean(raw.decode("utf-8", "replace"))
            if value is not None:
                self.linked.add(value)
        start = 0
        if not self.trades_started:
            first = _FIRST_TRADE.search(data)
            if first is None:
                start = len(data)
            else:
                self.trades_started = True
                start = first.start()
        if self.trades_started and not self.late:
            self.late = any(pattern.search(data, start) is not None for pattern in _LATE_FACTS)
        if not self.fx_rate:
            self.fx_rate = data.find(b"fxRateToBase") != -1

    def plan(self) -> StreamPlan | None:
        if self.undecodable:
            return None
        return StreamPlan(
            referenced_ids=frozenset(self.referenced),
            late_account_facts=self.late,
            has_fx_rate_to_base=self.fx_rate,
            linked_trade_ids=None if self.linked_undecodable else frozenset(self.linked),
        )
