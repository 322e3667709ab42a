import pytest

from foliosync.market.indices import EXPECTED_SIZE, IndexName
from foliosync.market.symbols import (
    from_provider,
    is_valid_ticker,
    normalize_ticker,
    to_fmp,
    to_polygon,
    to_yahoo,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BRK-B", "BRK.B"),
        ("brk.b", "BRK.B"),
        ("BRK/B", "BRK.B"),
        (" CTAS\n", "CTAS"),
        ("GOOGL[3]", "GOOGL"),
        ("bf-b", "BF.B"),
        ("BRK B", "BRK.B"),
    ],
)
def test_normalize_gives_the_one_dot_spelling(raw, expected):
    assert normalize_ticker(raw) == expected
    assert is_valid_ticker(expected)


def test_each_provider_gets_its_own_spelling_at_the_edge():
    assert to_fmp("BRK.B") == "BRK-B"
    assert to_yahoo("BF.B") == "BF-B"
    assert to_polygon("BRK.B") == "BRK.B"
    assert to_fmp("AAPL") == "AAPL"
    assert from_provider("BRK-B") == "BRK.B"


@pytest.mark.parametrize("bad", ["", "TOOLONG", "BRK.BB", "12AB", "AB CD", "FAIRFIELD, OHIO"])
def test_invalid_tickers_are_rejected(bad):
    assert not is_valid_ticker(normalize_ticker(bad))


def test_index_names_parse_common_spellings_and_bands_are_documented():
    assert IndexName.parse("s&p 500") is IndexName.SP500
    assert IndexName.parse("ndx") is IndexName.NASDAQ100
    assert IndexName.parse("djia") is IndexName.DOW30
    with pytest.raises(ValueError, match="SP500, NASDAQ100, DOW30"):
        IndexName.parse("FTSE")
    assert EXPECTED_SIZE[IndexName.SP500].accepts(503)
    assert not EXPECTED_SIZE[IndexName.SP500].accepts(494)
    assert EXPECTED_SIZE[IndexName.NASDAQ100].accepts(102)
    assert EXPECTED_SIZE[IndexName.DOW30].accepts(30)
    assert not EXPECTED_SIZE[IndexName.DOW30].accepts(29)
