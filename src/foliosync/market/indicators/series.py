"""Bars as numbers: one symbol's OHLCV history in float64 arrays, oldest first.

Indicators are analytics, not money: they are computed in binary floating point (as TA-Lib does)
from the exact Decimal bars, and shown rounded. Stored prices stay Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class BarSeries:
    symbol: str
    dates: DateArray  # datetime64[D], strictly increasing
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @property
    def last_date(self) -> date | None:
        if len(self) == 0:
            return None
        return date.fromisoformat(str(self.dates[-1]))

    @classmethod
    def from_rows(
        cls,
        symbol: str,
        rows: Sequence[
            tuple[date, Decimal | float, Decimal | float, Decimal | float, Decimal | float, int | float]
        ],
    ) -> BarSeries:
        """(date, open, high, low, close, volume) rows in any order."""
        ordered = sorted(rows, key=lambda r: r[0])
        columns: list[tuple[Any, ...]] = list(zip(*ordered, strict=True)) if ordered else [()] * 6
        return cls(
            symbol=symbol,
            dates=np.array([d.isoformat() for d in columns[0]], dtype="datetime64[D]"),
            open=np.array([float(x) for x in columns[1]], dtype=np.float64),
            high=np.array([float(x) for x in columns[2]], dtype=np.float64),
            low=np.array([float(x) for x in columns[3]], dtype=np.float64),
            close=np.array([float(x) for x in columns[4]], dtype=np.float64),
            volume=np.array([float(x) for x in columns[5]], dtype=np.float64),
        )

    def sorted(self) -> BarSeries:
        """The same bars oldest first (a database may hand them back in any order)."""
        if len(self) < 2 or bool(np.all(self.dates[1:] > self.dates[:-1])):
            return self
        order = np.argsort(self.dates, kind="stable")
        return BarSeries(
            self.symbol,
            self.dates[order],
            self.open[order],
            self.high[order],
            self.low[order],
            self.close[order],
            self.volume[order],
        )
