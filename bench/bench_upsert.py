"""Bulk upsert benchmark: N trade-like rows into PostgreSQL, then the same rows again unchanged.

    python3 -m uv run python bench/bench_upsert.py --rows 1000000

Creates (and drops) a scratch database on FOLIOSYNC_BENCH_PG (default postgresql://postgres@127.0.0.1/postgres).
Reports rows/s for the first load and for the unchanged re-run, and how many rows the re-run rewrote.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from foliosync.db.migrate import upgrade
from foliosync.db.session import build_engine, normalize_database_url, session_factory
from foliosync.db.upsert import _row_converter, bulk_upsert
from foliosync.models import BrokerAccount, Instrument, Trade, User

ADMIN = os.environ.get("FOLIOSYNC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_rows(n: int, account_id: int, instrument_ids: list[int]) -> list[dict]:
    start = date(2015, 1, 2)
    base = datetime(2015, 1, 2, 14, 30, tzinfo=UTC)
    rows = []
    for i in range(n):
        qty = Decimal(1 + i % 500)
        price = Decimal(10000 + i % 90000) / 100
        gross = -qty * price
        commission = Decimal("-1.00")
        rows.append(
            {
                "account_id": account_id,
                "source": "flex_xml",
                "natural_key": f"T{i:010d}",
                "status": "POSTED",
                "needs_review": False,
                "instrument_id": instrument_ids[i % len(instrument_ids)],
                "kind": "BUY",
                "side": "BUY",
                "trade_date": start + timedelta(days=i % 3650),
                "executed_at": base + timedelta(seconds=i),
                "quantity": qty,
                "price": price,
                "gross_amount": gross,
                "commission": commission,
                "regulatory_fees": Decimal(0),
                "other_fees": Decimal(0),
                "net_amount": gross + commission,
                "currency": "USD",
                "broker_trade_id": str(i),
                "broker_exec_id": f"0000e0d5.{i:08x}.01.01",
                "dividend_reinvestment": False,
                "forced_liquidation": False,
            }
        )
    return rows


def copy_floor(session: Session, rows: list[dict]) -> float:
    """Seconds for the same rows through a plain COPY (text and binary, the faster counts) into a
    table without indexes, constraints or foreign keys: what any loader pays on this machine."""
    columns = list(rows[0].keys())
    col_list = ", ".join(f'"{c}"' for c in columns)
    convert = _row_converter(Trade.__table__, columns)
    dbapi = session.connection().connection.driver_connection
    best = float("inf")
    with dbapi.cursor() as cur:
        cur.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'trades'::regclass AND attnum > 0 AND NOT attisdropped"
        )
        by_name = dict(cur.fetchall())
        types = [by_name[c].split("(")[0].replace(" COLLATE", "") for c in columns]
        for fmt in ("TEXT", "BINARY"):
            cur.execute(f"CREATE TABLE floor_copy AS SELECT {col_list} FROM trades WITH NO DATA")
            dbapi.commit()
            t0 = time.perf_counter()
            with cur.copy(f"COPY floor_copy ({col_list}) FROM STDIN (FORMAT {fmt})") as copy:
                if fmt == "BINARY":
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(convert(row))
            dbapi.commit()
            elapsed = time.perf_counter() - t0
            print(f"{'floor':>17}: {fmt.lower()} COPY into an unindexed table: {elapsed:.2f} s")
            best = min(best, elapsed)
            cur.execute("DROP TABLE floor_copy")
            dbapi.commit()
    session.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    name = f"foliosync_bench_{secrets.token_hex(3)}"
    admin = create_engine(normalize_database_url(ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN.rpartition("/")[0] + "/" + name
    engine = build_engine(url)
    try:
        upgrade(engine)
        session = session_factory(engine)()
        user = User(email="bench@example.com", password_hash="x")
        session.add(user)
        session.flush()
        account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id="B1", alias="bench")
        session.add(account)
        instruments = [
            Instrument(
                key=f"STK:S{i}:USD",
                asset_category="STK",
                symbol=f"S{i}",
                currency="USD",
                multiplier=Decimal(1),
            )
            for i in range(500)
        ]
        session.add_all(instruments)
        session.commit()
        rows = make_rows(args.rows, account.id, [i.id for i in instruments])
        key = ("account_id", "source", "natural_key")
        floor = copy_floor(session, rows)
        print(
            f"{'floor':>17}: {args.rows / floor:,.0f} rows/s, the yardstick below (the issue measured 180k)"
        )
        for label in ("first load", "unchanged re-run"):
            t0 = time.perf_counter()
            counts = bulk_upsert(session, Trade.__table__, rows, key)
            session.commit()
            elapsed = time.perf_counter() - t0
            print(
                f"{label:>17}: {args.rows:,} rows in {elapsed:.2f} s = {args.rows / elapsed:,.0f} rows/s "
                f"= {floor / elapsed:.0%} of the floor "
                f"(inserted {counts.inserted:,}, updated {counts.updated:,}, unchanged {counts.unchanged:,})"
            )
        print("rows in table:", session.scalar(select(func.count(Trade.id))))
        session.close()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
