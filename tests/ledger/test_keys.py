"""Fallback natural keys (shared taxonomy.md §2.3): content hash of parsed fields + occurrence."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

import pytest

from foliosync.ledger.keys import KeyFields, OccurrenceKeys, canonical_text
from foliosync.ledger.taxonomy import CashKind


def fee(amount: str = "-25.00", **changes: object) -> KeyFields:
    fields = {
        "account": "",
        "family": "cash",
        "posting_date": date(2025, 5, 2),
        "kind": CashKind.FEE.value,
        "raw_action": "FEE CHARGED WIRE FEE",
        "amount": Decimal(amount),
    }
    fields.update(changes)
    return KeyFields(**fields)  # type: ignore[arg-type]


def test_canonical_text_normalizes_every_field_type() -> None:
    assert canonical_text(Decimal("-25.00")) == "-25"
    assert canonical_text(Decimal("-0.00")) == "0"
    assert canonical_text(Decimal("1E+3")) == "1000"
    assert canonical_text(Decimal("0.10")) == "0.1"
    assert canonical_text(date(2025, 5, 2)) == "2025-05-02"
    assert canonical_text("  you  bought\tFCT ") == "YOU BOUGHT FCT"
    assert canonical_text(CashKind.FEE) == "FEE"
    assert canonical_text(None) == ""
    with pytest.raises(ValueError):
        canonical_text(Decimal("NaN"))


def test_base_is_sha256_of_the_pipe_joined_canonical_fields() -> None:
    expected = hashlib.sha256(b"|CASH|2025-05-02||FEE|FEE CHARGED WIRE FEE||||-25||").hexdigest()
    assert fee().base() == expected


def test_equal_values_in_different_spellings_share_a_key() -> None:
    assert fee("-25.00").base() == fee("-25").base() == fee("-25.000").base()
    assert fee(raw_action="fee  charged wire fee").base() == fee().base()


def test_any_canonical_field_changes_the_key() -> None:
    base = fee().base()
    variants = [
        fee("-25.01"),
        fee(posting_date=date(2025, 5, 3)),
        fee(account="X1"),
        fee(kind="WITHDRAWAL"),
        fee(instrument="STK:FCT:USD"),
        fee(settle_date=date(2025, 5, 5)),
        fee(effective_date=date(2025, 5, 1)),
        fee(family="trade"),
    ]
    assert len({v.base() for v in variants} | {base}) == len(variants) + 1


def test_identical_rows_get_occurrence_indexes_and_reimport_repeats_them() -> None:
    first = OccurrenceKeys()
    keys = [first.key(fee()), first.key(fee()), first.key(fee("-10"))]
    assert keys[0].endswith("#0") and keys[1].endswith("#1") and keys[2].endswith("#0")
    assert keys[0].split("#")[0] == keys[1].split("#")[0]
    second = OccurrenceKeys()
    assert [second.key(fee()), second.key(fee()), second.key(fee("-10"))] == keys


def test_occurrence_counts_per_day() -> None:
    keys = OccurrenceKeys()
    monday = keys.key(fee(posting_date=date(2025, 5, 5)))
    tuesday = keys.key(fee(posting_date=date(2025, 5, 6)))
    assert monday.endswith("#0") and tuesday.endswith("#0") and monday != tuesday
    assert len(monday) <= 160
