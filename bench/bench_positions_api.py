"""Consolidated-positions API under load: a user with 50 accounts x 200 positions, on PostgreSQL,
`GET /api/v1/portfolio/positions` hammered by wrk with 50 connections.

    apt-get install -y wrk
    python3 -m uv run python bench/bench_positions_api.py [--workers 2] [--seconds 20]

Creates (and drops) a scratch database; starts `foliosync serve` as a subprocess on a free port.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from foliosync.auth.tokens import issue_access_token
from foliosync.config import Settings
from foliosync.db.migrate import upgrade
from foliosync.db.session import build_engine, normalize_database_url, session_factory
from foliosync.ledger.records import Batch, InstrumentRef, PositionRecord
from foliosync.ledger.taxonomy import AssetCategory, Broker, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, User

ADMIN = os.environ.get("FOLIOSYNC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-key-0123456789-0123456789-abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, accounts: int, positions: int, users: int = 1) -> list[int]:
    """`users` users, each with `accounts` accounts of `positions` positions (the same book each)."""
    engine = build_engine(url)
    upgrade(engine)
    ids = [
        _seed_user(session_factory(engine)(), f"bench{u}@example.com", accounts, positions)
        for u in range(users)
    ]
    engine.dispose()
    return ids


def _seed_user(session: Session, email: str, accounts: int, positions: int) -> int:
    user = User(email=email, password_hash="x")
    session.add(user)
    session.flush()
    universe = [InstrumentRef(AssetCategory.STK, f"SYM{i:04d}", "USD") for i in range(1000)]
    for a in range(accounts):
        acct = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=f"U{a:07d}", alias=f"A{a}")
        session.add(acct)
        session.flush()
        batch = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
        for p in range(positions):
            inst = universe[(a * 37 + p * 7) % len(universe)]
            qty = Decimal(1 + (a + p) % 300)
            price = Decimal(1000 + (a * p) % 50000) / 100
            batch.positions.append(
                PositionRecord(
                    account=acct.external_account_id,
                    instrument=inst,
                    as_of_date=date(2025, 6, 30),
                    as_of=datetime(2025, 6, 30, 20, tzinfo=UTC),
                    quantity=qty,
                    currency="USD",
                    mark_price=price,
                    market_value=qty * price,
                    cost_basis=qty * price * Decimal("0.9"),
                    unrealized_pnl=qty * price * Decimal("0.1"),
                )
            )
        write_batch(session, batch, {acct.external_account_id: acct.id}, user_id=user.id)
    session.commit()
    user_id = user.id
    session.close()
    return user_id


def rotating_tokens_script(tokens: list[str], encoding: str) -> str:
    """A wrk Lua script that sends each request as the next user in turn."""
    listed = ", ".join(f'"{t}"' for t in tokens)
    script = f"""tokens = {{{listed}}}
counter = 0
request = function()
  counter = counter + 1
  local headers = {{}}
  headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
  headers["Accept-Encoding"] = "{encoding}"
  return wrk.format("GET", nil, headers)
end
"""
    path = os.path.join(tempfile.mkdtemp(prefix="foliosync-bench-"), "tokens.lua")
    with open(path, "w") as handle:
        handle.write(script)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--users",
        type=int,
        default=1,
        help="Spread the requests over this many users, each with the same 50 x 200 book "
        "(1: every connection is the same user, so concurrent requests share version reads).",
    )
    parser.add_argument(
        "--encoding",
        default="gzip",
        help="Accept-Encoding that wrk sends: gzip (what browsers and HTTP libraries send) or identity.",
    )
    args = parser.parse_args()
    name = f"foliosync_bench_{secrets.token_hex(3)}"
    admin = create_engine(normalize_database_url(ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN.rpartition("/")[0] + "/" + name
    server = None
    try:
        user_ids = seed(url, 50, 200, args.users)
        tokens = [issue_access_token(Settings(secret_key=SECRET, database_url=url), u) for u in user_ids]
        token = tokens[0]
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "REDIS_URL": "redis://127.0.0.1:6379/14",
            "LOG_LEVEL": "warning",
            "ENCRYPTION_KEY": "8fZ2JmQy2QmJq2vRz4sZr7Qy5k5x2P0nX8hK1m3a9Bc=",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "foliosync.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}/api/v1/portfolio/positions"
        request = urllib.request.Request(endpoint, headers={"Authorization": f"Bearer {token}"})
        deadline = time.monotonic() + 60
        while True:
            try:
                body = urllib.request.urlopen(request, timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        zipped = urllib.request.Request(endpoint, headers={**request.headers, "Accept-encoding": "gzip"})
        with urllib.request.urlopen(zipped, timeout=5) as answer:
            gz_size = len(answer.read())
        print(
            f"response: {len(body):,} bytes ({gz_size:,} gzipped); holdings: {body.count(b'instrument_id'):,}"
        )
        script = ["-s", rotating_tokens_script(tokens, args.encoding)] if len(tokens) > 1 else []

        def wrk(seconds: int) -> str:
            return subprocess.run(
                [
                    "wrk",
                    "-t2",
                    f"-c{args.connections}",
                    f"-d{seconds}s",
                    "--latency",
                    "-H",
                    f"Authorization: Bearer {token}",
                    "-H",
                    f"Accept-Encoding: {args.encoding}",
                    *script,
                    endpoint,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout

        # Warm-up (not measured): every user's answer rendered and cached in every worker process,
        # whichever process each connection lands on (each render takes about 0.2 s here).
        wrk(min(60, 5 + len(tokens)))
        out = wrk(args.seconds)
        print(out)
        p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
        p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
        rps = re.search(r"Requests/sec:\s+(\S+)", out)
        print(
            f"SUMMARY workers={args.workers} users={args.users} encoding={args.encoding} p50={p50 and p50[1]} p99={p99 and p99[1]} rps={rps and rps[1]}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
