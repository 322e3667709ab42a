"""daily_prices: write bars (one row per symbol and session, tagged with its source) and read them
back fast, as numpy series for the indicators.

Reading 3,000 symbols x 1,260 bars row by row through an ORM would take tens of seconds. On
PostgreSQL the bars are aggregated to one row per symbol (arrays of float8) and streamed with
`COPY ... TO STDOUT (FORMAT BINARY)`, which numpy reads without a Python loop per bar; optionally
over several connections at once (docs/benchmarks/market.md). On SQLite the casts to REAL are
done by SQLite itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Engine, bindparam, func, select, text
from sqlalchemy.orm import Session

from foliosync.db.upsert import UpsertCounts, bulk_upsert
from foliosync.market.indicators.series import BarSeries
from foliosync.market.providers.base import Bar
from foliosync.models import DailyPrice

_TABLE = DailyPrice.__table__
_CHUNK = 500


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- writing ----------------------------------------------------------------------------------


def upsert_bars(session: Session, bars: Iterable[Bar]) -> UpsertCounts:
    """Insert or update bars by (symbol, bar_date). The caller commits."""
    rows = [
        {
            "symbol": bar.symbol,
            "bar_date": bar.bar_date,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "source": bar.source,
        }
        for bar in bars
    ]
    return bulk_upsert(session, _TABLE, rows, ("symbol", "bar_date"))  # type: ignore[arg-type]


def last_bar_dates(session: Session, symbols: Sequence[str]) -> dict[str, date]:
    """The newest stored bar per symbol (symbols without bars are absent)."""
    result: dict[str, date] = {}
    for chunk in _chunks(list(symbols)):
        query = (
            select(DailyPrice.symbol, func.max(DailyPrice.bar_date))
            .where(DailyPrice.symbol.in_(chunk))
            .group_by(DailyPrice.symbol)
        )
        result.update({symbol: day for symbol, day in session.execute(query) if day is not None})
    return result


def earliest_bars_from(session: Session, symbols: Sequence[str], source: str, since: date) -> dict[str, date]:
    """Per symbol, the oldest bar on or after `since` that came from `source` (used to re-fetch
    fallback bars from a primary provider)."""
    result: dict[str, date] = {}
    for chunk in _chunks(list(symbols)):
        query = (
            select(DailyPrice.symbol, func.min(DailyPrice.bar_date))
            .where(DailyPrice.symbol.in_(chunk), DailyPrice.source == source, DailyPrice.bar_date >= since)
            .group_by(DailyPrice.symbol)
        )
        result.update({symbol: day for symbol, day in session.execute(query) if day is not None})
    return result


def bars_between(
    session: Session, symbol: str, start: date | None, end: date | None = None
) -> list[DailyPrice]:
    query = select(DailyPrice).where(DailyPrice.symbol == symbol)
    if start is not None:
        query = query.where(DailyPrice.bar_date >= start)
    if end is not None:
        query = query.where(DailyPrice.bar_date <= end)
    return list(session.scalars(query.order_by(DailyPrice.bar_date)))


# --- reading as numbers -----------------------------------------------------------------------


def load_series(
    session: Session,
    symbols: Sequence[str],
    *,
    since: date | None = None,
    workers: int = 1,
    tail_days: int | None = None,
) -> dict[str, BarSeries]:
    """Bars of many symbols as numpy series, oldest first; symbols without bars are absent.

    `workers > 1` (PostgreSQL only) reads disjoint symbol sets over that many pooled connections in
    parallel; those connections see only committed bars.
    `tail_days` (PostgreSQL only, for scans): read open and volume only for the last `tail_days`
    calendar days before the newest bar of the set, leaving NaN before; high, low and close (all the
    Wilder indicators need) always come in full. It spares a quarter of the server's work.
    """
    unique = sorted(set(symbols))
    if not unique:
        return {}
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        if workers > 1 and isinstance(bind, Engine) and len(unique) > workers:
            return _load_postgresql_parallel(bind, unique, since, workers, tail_days)
        raw = session.connection().connection.driver_connection
        return _load_postgresql(raw, unique, since, tail_days)
    return _load_generic(session, unique, since)


# Aggregated per symbol; the FILTERed arrays keep the input order of the rows they pass, so the
# client rebuilds their positions from the full date array and `cutoff` (see BinaryCopyParser).
_PG_COPY = """
COPY (
    WITH newest AS (
        SELECT max(last.bar_date) AS bar_date
        FROM unnest(%(symbols)s::text[]) AS wanted(symbol),
             LATERAL (SELECT max(bar_date) AS bar_date FROM daily_prices WHERE symbol = wanted.symbol) AS last
    ), cutoff AS (
        SELECT coalesce((SELECT bar_date FROM newest) - %(tail_days)s::int, DATE '1900-01-01') AS bar_date
    )
    SELECT symbol,
           (SELECT bar_date FROM cutoff) - DATE '1970-01-01',
           array_agg(bar_date - DATE '1970-01-01'),
           array_agg(high::float8), array_agg(low::float8), array_agg(close::float8),
           array_agg(open::float8) FILTER (WHERE bar_date >= (SELECT bar_date FROM cutoff)),
           array_agg(volume::float8) FILTER (WHERE bar_date >= (SELECT bar_date FROM cutoff))
    FROM daily_prices
    WHERE symbol = ANY(%(symbols)s) AND bar_date >= %(since)s
    GROUP BY symbol
) TO STDOUT (FORMAT BINARY)
"""
_ALL_DAYS = 1_000_000
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_INT4 = np.dtype([("length", ">i4"), ("value", ">i4")])
_FLOAT8 = np.dtype([("length", ">i4"), ("value", ">f8")])


def _load_postgresql(
    dbapi_conn: Any, symbols: Sequence[str], since: date | None, tail_days: int | None
) -> dict[str, BarSeries]:
    parser = BinaryCopyParser()
    params = {
        "symbols": list(symbols),
        "since": since or date(1900, 1, 1),
        "tail_days": _ALL_DAYS if tail_days is None else tail_days,
    }
    with dbapi_conn.cursor() as cur, cur.copy(_PG_COPY, params) as copy:
        for chunk in copy:
            parser.feed(chunk)
    return parser.finish()


def _load_postgresql_parallel(
    engine: Engine, symbols: Sequence[str], since: date | None, workers: int, tail_days: int | None
) -> dict[str, BarSeries]:
    def read(part: Sequence[str]) -> dict[str, BarSeries]:
        with engine.connect() as conn:
            return _load_postgresql(conn.connection.driver_connection, part, since, tail_days)

    parts = [symbols[i::workers] for i in range(workers)]
    result: dict[str, BarSeries] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part_result in pool.map(read, parts):
            result.update(part_result)
    return result


def _array(view: memoryview, offset: int, length: int, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """One-dimensional PostgreSQL binary array without NULL elements -> numpy values. A NULL array
    (an aggregate whose FILTER matched nothing) reads as empty."""
    if length < 0:
        return np.empty(0, dtype=dtype["value"].newbyteorder("="))
    ndim, _has_null, _oid = struct.unpack_from(">iii", view, offset)
    if ndim == 0:
        return np.empty(0, dtype=dtype["value"].newbyteorder("="))
    (count, _lower) = struct.unpack_from(">ii", view, offset + 12)
    start = offset + 12 + 8 * ndim
    items = np.frombuffer(view, dtype=dtype, count=count, offset=start)
    assert start + count * dtype.itemsize == offset + length, "array with NULLs or wrong element type"
    return items["value"].astype(dtype["value"].newbyteorder("="))


class BinaryCopyParser:
    """Incremental parser of the `_PG_COPY` stream (PostgreSQL binary COPY format, one row per symbol).

    Rows are decoded as they arrive, so the whole stream (hundreds of MB for 3.78M bars) is never held
    in one buffer and decoding overlaps the wait for the next row.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._header_done = False
        self._ended = False
        self.result: dict[str, BarSeries] = {}

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        self._pending += chunk
        consumed = self._parse(memoryview(self._pending))
        if consumed:
            del self._pending[:consumed]

    def finish(self) -> dict[str, BarSeries]:
        if not self._ended or self._pending:
            raise ValueError("PostgreSQL binary COPY stream ended early")
        return self.result

    def _parse(self, view: memoryview) -> int:
        offset = 0
        try:
            if not self._header_done:
                if len(view) < 19:
                    return 0
                if bytes(view[:11]) != _SIGNATURE:
                    raise ValueError("not a PostgreSQL binary COPY stream")
                (extension,) = struct.unpack_from(">i", view, 15)
                if len(view) < 19 + extension:
                    return 0
                offset = 19 + extension
                self._header_done = True
            while not self._ended:
                row_end = _row_end(view, offset)
                if row_end is None:
                    break
                if row_end == -1:
                    self._ended = True
                    offset += 2
                    break
                self._decode_row(view, offset)
                offset = row_end
            return offset
        finally:
            view.release()

    def _decode_row(self, view: memoryview, offset: int) -> None:
        (fields,) = struct.unpack_from(">h", view, offset)
        offset += 2
        values: list[tuple[int, int]] = []
        for _ in range(fields):
            (length,) = struct.unpack_from(">i", view, offset)
            values.append((offset + 4, length))
            offset += 4 + max(length, 0)
        sym_at, sym_len = values[0]
        symbol = bytes(view[sym_at : sym_at + sym_len]).decode()
        (cutoff,) = struct.unpack_from(">i", view, values[1][0])
        days = _array(view, *values[2], _INT4)
        high, low, close = (_array(view, *values[i], _FLOAT8) for i in (3, 4, 5))
        # open and volume were aggregated only for rows on or after the cutoff, in the same order.
        in_tail = days >= cutoff
        open_, volume = np.full(days.shape, np.nan), np.full(days.shape, np.nan)
        open_[in_tail] = _array(view, *values[6], _FLOAT8)
        volume[in_tail] = _array(view, *values[7], _FLOAT8)
        dates = _EPOCH + days.astype("timedelta64[D]")
        self.result[symbol] = BarSeries(symbol, dates, open_, high, low, close, volume).sorted()


_EPOCH = np.datetime64("1970-01-01", "D")


def _row_end(view: memoryview, offset: int) -> int | None:
    """Where the row starting at `offset` ends; -1 for the trailer; None if it is not complete yet."""
    if len(view) < offset + 2:
        return None
    (fields,) = struct.unpack_from(">h", view, offset)
    if fields == -1:
        return -1
    offset += 2
    for _ in range(fields):
        if len(view) < offset + 4:
            return None
        (length,) = struct.unpack_from(">i", view, offset)
        offset += 4 + max(length, 0)
    return offset if len(view) >= offset else None


def parse_binary_copy(data: bytes) -> dict[str, BarSeries]:
    """Parse a complete `_PG_COPY` stream."""
    parser = BinaryCopyParser()
    parser.feed(data)
    return parser.finish()


def _load_generic(session: Session, symbols: Sequence[str], since: date | None) -> dict[str, BarSeries]:
    query = text(
        "SELECT symbol, bar_date, CAST(open AS REAL), CAST(high AS REAL), CAST(low AS REAL), "
        "CAST(close AS REAL), CAST(volume AS REAL) FROM daily_prices "
        "WHERE symbol IN :symbols AND bar_date >= :since ORDER BY symbol, bar_date"
    ).bindparams(bindparam("symbols", expanding=True))
    rows_by_symbol: dict[str, list[tuple[Any, ...]]] = {}
    for chunk in _chunks(list(symbols)):
        params = {"symbols": list(chunk), "since": (since or date(1900, 1, 1)).isoformat()}
        for row in session.execute(query, params):
            rows_by_symbol.setdefault(row[0], []).append(tuple(row[1:]))
    result: dict[str, BarSeries] = {}
    for symbol, rows in rows_by_symbol.items():
        columns = list(zip(*rows, strict=True))
        result[symbol] = BarSeries(
            symbol,
            np.array([str(d)[:10] for d in columns[0]], dtype="datetime64[D]"),
            *(np.array(col, dtype=np.float64) for col in columns[1:]),
        ).sorted()
    return result
