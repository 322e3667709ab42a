"""Idempotent bulk upsert by natural key, with inserted / updated / unchanged counts.

PostgreSQL: rows are COPYed (text) into a temporary table and merged with
`INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE ... WHERE (cols) IS DISTINCT FROM (excluded cols)`.
From 100,000 rows, the rows the table already holds unchanged are first deleted from the temporary
table by one join (`DELETE ... USING table WHERE keys match AND NOT (cols) IS DISTINCT FROM ...`), so
the planner can hash-join instead of probing the unique index once per row. COPY is about twice as
fast as executemany, and the IS DISTINCT FROM guard means an unchanged row is not rewritten at all
(no dead tuple, no WAL), so a re-sync of unchanged data writes nothing. When an account has no rows
of the source yet, rows are COPYed straight into the table. See docs/decisions/0002-bulk-upsert.md.

SQLite: the existing rows for the batch's keys are read first and compared in Python; only new
rows are inserted and only changed rows updated. SQLite is the single-user default, where this
is plenty fast and gives exact counts.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, and_, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from foliosync.db.types import UTCDateTime, canonical_decimal

# Columns the upsert never compares or overwrites: surrogate ids and first-write timestamps.
NEVER_UPDATED = frozenset({"id", "created_at"})


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class UpsertReport:
    """Counts per table for one unit of work."""

    by_table: dict[str, UpsertCounts] = field(default_factory=dict)

    def add(self, table: str, counts: UpsertCounts) -> None:
        self.by_table.setdefault(table, UpsertCounts())
        self.by_table[table] += counts

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {name: counts.as_dict() for name, counts in sorted(self.by_table.items())}

    @property
    def written(self) -> int:
        return sum(c.written for c in self.by_table.values())


def _plain(value: Any) -> Any:
    """Enums to their values. (StrEnum members already are str, and drivers send their value.)"""
    if isinstance(value, Enum) and not isinstance(value, str):
        return value.value
    return value


def _dedupe(rows: Iterable[Mapping[str, Any]], key_cols: Sequence[str]) -> list[dict[str, Any]]:
    """Last row wins per key: ON CONFLICT cannot touch one row twice in a statement.

    The caller's dicts are kept as they are (no per-row copy: this is the hot path of a large import);
    only plain (non-str) Enum values, which no driver adapts, are converted.
    """
    row_list = rows if isinstance(rows, list) else list(rows)
    if not row_list:
        return []
    key_of = operator.itemgetter(*key_cols)
    by_key = {key_of(row): row for row in row_list}
    unique = list(by_key.values()) if len(by_key) != len(row_list) else list(row_list)
    enum_cols = [c for c, v in unique[0].items() if isinstance(v, Enum) and not isinstance(v, str)]
    if enum_cols:
        unique = [{**row, **{c: _plain(row[c]) for c in enum_cols}} for row in unique]
    return [dict(row) if not isinstance(row, dict) else row for row in unique]


def bulk_upsert(
    session: Session,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    key_cols: Sequence[str],
    *,
    batch_size: int = 50_000,
) -> UpsertCounts:
    """Insert new rows, update changed ones, leave unchanged ones untouched; return the counts.

    Every row must carry the same columns. The caller owns the transaction (nothing is committed).
    """
    unique_rows = _dedupe(rows, key_cols)
    counts = UpsertCounts()
    if not unique_rows:
        return counts
    columns = list(unique_rows[0].keys())
    missing = [c for c in key_cols if c not in columns]
    if missing:
        raise ValueError(f"rows for {table.name} lack key columns {missing}")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and _scope_is_empty(session, table, unique_rows, key_cols):
        # Nothing can conflict (a first import into this account): COPY straight into the table.
        _copy_into(session, table, unique_rows, columns)
        return UpsertCounts(inserted=len(unique_rows))
    if dialect == "postgresql":
        # One temporary table for all rows: the merge joins it with the table once (a join per
        # batch would scan the table once per batch).
        return _upsert_postgresql(session, table, unique_rows, columns, key_cols)
    for start in range(0, len(unique_rows), batch_size):
        counts += _upsert_generic(session, table, unique_rows[start : start + batch_size], columns, key_cols)
    return counts


# --- PostgreSQL: COPY into a temp table, then one guarded INSERT ... ON CONFLICT -----------------

_temp_counter = itertools.count()


def _row_converter(table: Table, columns: list[str]) -> Any:
    """A function row -> tuple for COPY that touches only columns needing care: JSON (wrapped as
    jsonb) and timestamps (naive ones refused: PostgreSQL would read them in the session's zone)."""
    json_idx = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    time_idx = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    getter = operator.itemgetter(*columns)
    if len(columns) == 1:
        return lambda row: (row[columns[0]],)
    if not json_idx and not time_idx:
        return getter

    def convert(row: Mapping[str, Any]) -> Any:
        values = list(getter(row))
        for i in json_idx:
            if values[i] is not None:
                values[i] = Jsonb(values[i])
        for i in time_idx:
            value = values[i]
            if value is not None and value.tzinfo is None:
                raise ValueError("naive datetime refused: foliosync stores tz-aware UTC times only")
        return values

    return convert


SCOPE_COLUMNS = ("account_id", "source")


def _scope_is_empty(
    session: Session, table: Table, rows: list[dict[str, Any]], key_cols: Sequence[str]
) -> bool:
    """True when the table holds no row in the rows' (account, source) scope, so no key can clash.

    Only for ledger tables keyed by (account_id, source, ...). The unique index still guards a
    concurrent writer: a second first-import into the same account fails and rolls back whole.
    """
    if tuple(key_cols[:2]) != SCOPE_COLUMNS:
        return False
    scopes = {(row["account_id"], row["source"]) for row in rows}
    if len(scopes) > 50:
        return False
    clauses = " OR ".join(["(account_id = %s AND source = %s)"] * len(scopes))
    params = [value for scope in sorted(scopes) for value in scope]
    dbapi_conn = session.connection().connection.driver_connection
    assert dbapi_conn is not None
    with dbapi_conn.cursor() as cur:
        cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{table.name}" WHERE {clauses})', params)
        found = cur.fetchone()
    return found is not None and not found[0]


def _copy_into(session: Session, table: Table, rows: list[dict[str, Any]], columns: list[str]) -> None:
    dbapi_conn = session.connection().connection.driver_connection
    assert dbapi_conn is not None
    col_list = ", ".join(f'"{c}"' for c in columns)
    convert = _row_converter(table, columns)
    with dbapi_conn.cursor() as cur:
        # Text COPY (decision 0002): binary spares the server from parsing numbers and times, but
        # costs the client more than that, and the client is the slower side of a merge.
        with cur.copy(f'COPY "{table.name}" ({col_list}) FROM STDIN') as copy:
            write = copy.write_row
            for row in rows:
                write(convert(row))


def _upsert_postgresql(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    columns: list[str],
    key_cols: Sequence[str],
) -> UpsertCounts:
    dbapi_conn = session.connection().connection.driver_connection
    assert dbapi_conn is not None
    temp = f"_upsert_{table.name}_{next(_temp_counter)}"
    col_list = ", ".join(f'"{c}"' for c in columns)
    compare = [c for c in columns if c not in key_cols and c not in NEVER_UPDATED]
    json_cols = {c for c in columns if isinstance(table.c[c].type, JSON)}
    convert = _row_converter(table, columns)
    with dbapi_conn.cursor() as cur:
        cur.execute(
            f'CREATE TEMP TABLE "{temp}" ON COMMIT DROP AS SELECT {col_list} FROM "{table.name}" WITH NO DATA'
        )
        with cur.copy(f'COPY "{temp}" ({col_list}) FROM STDIN') as copy:
            write = copy.write_row
            for row in rows:
                write(convert(row))
        if len(rows) >= JOIN_MERGE_MIN_ROWS:
            inserted, updated = _merge_by_join(cur, table.name, temp, col_list, compare, json_cols, key_cols)
        else:
            inserted, updated = _merge_by_conflict(
                cur, table.name, temp, col_list, compare, json_cols, key_cols
            )
        cur.execute(f'DROP TABLE "{temp}"')
    return UpsertCounts(inserted=inserted, updated=updated, unchanged=len(rows) - inserted - updated)


# Memory for the merge's hash join (per statement, this transaction only): a larger input spills to
# temporary files in batches rather than failing.
MERGE_WORK_MEM = "128MB"
# From this many rows the merge is a join (docs/decisions/0002). Below it, probing the unique index
# once per row is cheaper than ANALYZE, planning and a join: the 2,500-trade parts of a streamed Flex
# import took 31 s through joins and 26 s through ON CONFLICT (docs/benchmarks/flex.md).
JOIN_MERGE_MIN_ROWS = 100_000


def _merge_by_join(
    cur: Any,
    table: str,
    temp: str,
    col_list: str,
    compare: list[str],
    json_cols: set[str],
    key_cols: Sequence[str],
) -> tuple[int, int]:
    """Drop the temp rows that the table already holds unchanged (one join), then merge the rest
    with the guarded ON CONFLICT: (inserted, updated).

    The planner can hash-join a large batch (one pass over both sides) where ON CONFLICT probes the
    unique index once per row; an unchanged re-sync then leaves nothing for ON CONFLICT to do."""
    cur.execute(f'ANALYZE "{temp}"')  # temp tables get no autovacuum statistics; the planner needs them
    cur.execute("SELECT current_setting('work_mem'), set_config('work_mem', %s, true)", [MERGE_WORK_MEM])
    saved = cur.fetchone()
    assert saved is not None
    on = " AND ".join(f't."{c}" = s."{c}"' for c in key_cols)
    same = f"AND NOT {_differs(compare, json_cols, 't', 's')}" if compare else ""
    cur.execute(f'DELETE FROM "{temp}" AS s USING "{table}" AS t WHERE {on} {same}')
    cur.execute("SELECT set_config('work_mem', %s, true)", [saved[0]])
    return _merge_by_conflict(cur, table, temp, col_list, compare, json_cols, key_cols)


def _merge_by_conflict(
    cur: Any,
    table: str,
    temp: str,
    col_list: str,
    compare: list[str],
    json_cols: set[str],
    key_cols: Sequence[str],
) -> tuple[int, int]:
    """One INSERT ... SELECT ... ON CONFLICT DO UPDATE guarded by IS DISTINCT FROM; (inserted, updated)
    counted server-side (xmax = 0 marks a fresh tuple; an unchanged row returns nothing)."""
    conflict = ", ".join(f'"{c}"' for c in key_cols)
    action = (
        f"DO UPDATE SET {_assignments(compare, 'excluded')} WHERE {_differs(compare, json_cols, table, 'excluded')}"
        if compare
        else "DO NOTHING"
    )
    cur.execute(
        f'WITH merged AS (INSERT INTO "{table}" ({col_list}) SELECT {col_list} FROM "{temp}" AS s '
        f"ON CONFLICT ({conflict}) {action} RETURNING (xmax = 0) AS fresh) "
        "SELECT count(*) FILTER (WHERE fresh), count(*) FROM merged"
    )
    fetched = cur.fetchone()
    assert fetched is not None
    return int(fetched[0]), int(fetched[1]) - int(fetched[0])


def _assignments(columns: list[str], source: str) -> str:
    return ", ".join(f'"{c}" = {source}."{c}"' for c in columns)


def _differs(columns: list[str], json_cols: set[str], old: str, new: str) -> str:
    """SQL true when any column differs, NULLs compared as values. jsonb compares by value; json has
    no equality operator, so JSON columns compare as jsonb. The trailing NULL makes even a one-column
    list a row constructor."""

    def cast(prefix: str, c: str) -> str:
        return f'"{prefix}"."{c}"::jsonb' if c in json_cols else f'"{prefix}"."{c}"'

    target = ", ".join(cast(old, c) for c in columns)
    incoming = ", ".join(cast(new, c) for c in columns)
    return f"(({target}, NULL) IS DISTINCT FROM ({incoming}, NULL))"


# --- SQLite (and any other engine): read, compare, write only the difference ---------------------


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def _upsert_generic(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    columns: list[str],
    key_cols: Sequence[str],
) -> UpsertCounts:
    compare = [c for c in columns if c not in key_cols and c not in NEVER_UPDATED]

    def key_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] for c in key_cols)

    existing: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    key_exprs = [table.c[c] for c in key_cols]
    # SQLite allows 32k bound variables; stay well below it.
    chunk = max(1, 30_000 // max(1, len(key_cols)) // 2)
    for start in range(0, len(rows), chunk):
        keys = [key_of(r) for r in rows[start : start + chunk]]
        query = select(*key_exprs, *[table.c[c] for c in compare]).where(tuple_(*key_exprs).in_(keys))
        for found in session.execute(query).mappings():
            existing[tuple(found[c] for c in key_cols)] = dict(found)
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged = 0
    for row in rows:
        old = existing.get(key_of(row))
        if old is None:
            new_rows.append(row)
        elif any(_comparable(old[c]) != _comparable(row[c]) for c in compare):
            changed.append(row)
        else:
            unchanged += 1
    if new_rows:
        session.execute(insert(table), new_rows)
    if changed:
        params = [
            {**{f"k_{c}": r[c] for c in key_cols}, **{f"v_{c}": r[c] for c in compare}} for r in changed
        ]
        stmt = (
            update(table)
            .where(and_(*[table.c[c] == bindparam(f"k_{c}") for c in key_cols]))
            .values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in compare})
        )
        session.connection().execute(stmt, params)
    return UpsertCounts(inserted=len(new_rows), updated=len(changed), unchanged=unchanged)
