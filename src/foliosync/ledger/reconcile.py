"""Reconciliation: compare what the ledger implies with what the broker itself reports.

(Interface only for now; the IBKR Flex work fills in the comparisons.) A difference makes the
sync PARTIAL and is shown with its size; it is never reported as success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from foliosync.ledger.records import Batch


@dataclass
class Difference:
    kind: str  # "position" or "cash"
    subject: str  # instrument key or currency
    ledger: str  # decimal strings, so the summary serialises exactly
    reported: str
    difference: str


@dataclass
class ReconciliationResult:
    checked: bool = False
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "differences": [d.__dict__ for d in self.differences],
            "notes": self.notes,
        }


def reconcile_account(
    session: Session, account_id: int, external_account_id: str, batch: Batch, account_ids: Mapping[str, int]
) -> ReconciliationResult:
    del session, account_id, external_account_id, batch, account_ids
    return ReconciliationResult(checked=False, notes=["reconciliation not implemented for this source"])
