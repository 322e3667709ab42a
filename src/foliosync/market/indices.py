"""The indices foliosync follows and the sizes a believable constituent list must have.

Bands after shared/docs/marketdata.md section C.5: a list outside its band is treated as a failed
fetch, so a truncated page or a half-answered API never deactivates real members.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IndexName(StrEnum):
    SP500 = "SP500"
    NASDAQ100 = "NASDAQ100"
    DOW30 = "DOW30"

    @classmethod
    def parse(cls, raw: str) -> IndexName:
        """Accept the usual spellings (sp500, S&P 500, ndx, nasdaq-100, dow, djia)."""
        key = "".join(ch for ch in raw.upper() if ch.isalnum())
        aliases = {
            "SP500": cls.SP500,
            "SPX": cls.SP500,
            "GSPC": cls.SP500,
            "NASDAQ100": cls.NASDAQ100,
            "NDX": cls.NASDAQ100,
            "NASDAQ": cls.NASDAQ100,
            "DOW30": cls.DOW30,
            "DOW": cls.DOW30,
            "DJIA": cls.DOW30,
            "DOWJONES": cls.DOW30,
        }
        try:
            return aliases[key]
        except KeyError:
            valid = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown index {raw!r}; use one of {valid}") from None


@dataclass(frozen=True)
class SizeBand:
    """Inclusive range of ticker counts accepted for an index."""

    low: int
    high: int

    def accepts(self, count: int) -> bool:
        return self.low <= count <= self.high

    def describe(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


# marketdata.md C.5: S&P 500 has 503 tickers (three dual-class companies); NASDAQ-100 has 101
# (GOOGL + GOOG) and FMP showed 102 around a reconstitution; the Dow has exactly 30.
EXPECTED_SIZE: dict[IndexName, SizeBand] = {
    IndexName.SP500: SizeBand(495, 510),
    IndexName.NASDAQ100: SizeBand(98, 104),
    IndexName.DOW30: SizeBand(30, 30),
}
