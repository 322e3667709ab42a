from datetime import date
from decimal import Decimal

import pytest

from foliosync.ledger.instruments import canonical_symbol, occ_symbol, parse_occ_symbol


@pytest.mark.parametrize("raw", ["BRK.B", "BRK-B", "BRK/B", "BRK B", " brk.b "])
def test_class_shares_have_one_spelling(raw):
    assert canonical_symbol(raw) == "BRK.B"


def test_ordinary_symbols_are_upper_cased_and_left_alone():
    assert canonical_symbol("aapl") == "AAPL"
    assert canonical_symbol("SPY") == "SPY"


def test_occ_symbols_round_trip():
    text = occ_symbol("AAPL", date(2024, 1, 19), "C", Decimal("152.5"))
    assert text == "AAPL  240119C00152500"
    assert parse_occ_symbol(text) == ("AAPL", date(2024, 1, 19), "C", Decimal("152.5"))
    assert parse_occ_symbol("AAPL240119P00005000") == ("AAPL", date(2024, 1, 19), "P", Decimal(5))
    assert parse_occ_symbol("not an option") is None
