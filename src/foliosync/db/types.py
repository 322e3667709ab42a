"""Column types that keep money exact and times in UTC on both engines.

SQLite has no exact decimal type: SQLAlchemy's Numeric goes through a float there and loses
digits past ~15 significant figures. `Decimal` therefore stores a canonical decimal string on
SQLite and NUMERIC on PostgreSQL. `UTCDateTime` refuses naive datetimes on the way in and hands
back tz-aware UTC on the way out (SQLite keeps no zone, so it stores naive UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as PyDecimal
from typing import Any

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def canonical_decimal(value: PyDecimal) -> str:
    """The shortest exact text of a Decimal: no exponent, no trailing zeros, never '-0'."""
    if value.is_nan() or value.is_infinite():
        raise ValueError(f"not a finite decimal: {value}")
    if value == 0:
        return "0"
    # format(..., "f") is exact; Decimal.normalize() would round to the context's 28 digits.
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class Decimal(TypeDecorator[PyDecimal]):
    """Exact decimal: NUMERIC(precision, scale) on PostgreSQL, canonical text on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 38, scale: int = 12) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, PyDecimal):
            value = PyDecimal(str(value))
        if dialect.name == "sqlite":
            return canonical_decimal(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> PyDecimal | None:
        if value is None:
            return None
        result = value if isinstance(value, PyDecimal) else PyDecimal(str(value))
        # PostgreSQL pads to the column scale; normalise so equal values compare and print alike.
        return PyDecimal(canonical_decimal(result))


class UTCDateTime(TypeDecorator[datetime]):
    """A tz-aware UTC timestamp on both engines."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: foliosync stores tz-aware UTC times only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def key_string(length: int) -> TypeEngine[str]:
    """A string used in unique keys: byte-wise "C" collation on PostgreSQL. Natural keys are ASCII
    ids, and locale-aware collation makes every B-tree comparison several times slower (measured
    in docs/benchmarks.md: the bulk upsert's index maintenance is dominated by it)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")
