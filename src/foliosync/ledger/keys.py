"""Fallback natural keys for sources without ids (shared taxonomy.md §2.3).

Fidelity, Robinhood and Schwab file exports carry no transaction ids. A row's key is the sha256 of
its *parsed canonical fields* (never the raw columns: header versions rename and reorder them),
plus an occurrence index that tells identical rows of the same day apart. Two equal fees on one day
are two rows; importing the same file again yields the same two keys, so nothing is duplicated.
See docs/decisions/0005-fallback-natural-keys.md.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

_SPACES = re.compile(r"\s+")


def canonical_text(value: object) -> str:
    """One spelling per value: Decimal without trailing zeros or `-0`, ISO dates, upper-case
    whitespace-collapsed text, enums by value, None as the empty string (§2.3 step 2)."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Decimal):
        if value.is_nan() or value.is_infinite():
            raise ValueError(f"not a finite decimal: {value}")
        if value == 0:
            return "0"
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    return _SPACES.sub(" ", str(value)).strip().upper()


@dataclass(frozen=True, slots=True)
class KeyFields:
    """The canonical fields §2.3 step 1 hashes. Leave out running balances, row numbers, download
    times, the Fidelity `(Cash)`/`(Margin)` suffix and descriptions whose wording varies."""

    account: str
    family: str  # "trade", "cash", "transfer", "option_event", "corporate_action"
    posting_date: date
    kind: str
    raw_action: str
    instrument: str = ""  # ticker, CUSIP or OCC symbol after parsing
    quantity: Decimal | None = None
    price: Decimal | None = None
    amount: Decimal | None = None
    fees: Decimal | None = None
    effective_date: date | None = None
    settle_date: date | None = None

    def base(self) -> str:
        parts = (
            self.account,
            self.family,
            self.posting_date,
            self.effective_date,
            self.kind,
            self.raw_action,
            self.instrument,
            self.quantity,
            self.price,
            self.amount,
            self.fees,
            self.settle_date,
        )
        joined = "|".join(canonical_text(p) for p in parts)
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()


class OccurrenceKeys:
    """Hands out `base#n` keys for one file, n counting identical rows in file order (§2.3 step 3).

    The base already contains the posting date, so counting per base is counting identical rows
    of the same day. Use one instance per parsed file: the index restarts in every file, which is
    what makes an overlapping export produce the same keys for the same rows.
    """

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def key(self, fields: KeyFields) -> str:
        base = fields.base()
        index = self._seen[base]
        self._seen[base] += 1
        return f"{base}#{index}"
