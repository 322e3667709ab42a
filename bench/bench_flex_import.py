"""Benchmark: import a large IBKR Flex statement end to end (parse, normalize, upsert, commit).

    .venv/bin/python bench/bench_flex_import.py                 # 100k trades, PostgreSQL and SQLite
    .venv/bin/python bench/bench_flex_import.py --trades 20000 --engines sqlite

For each engine, each step runs in a fresh Python process so its peak RSS is its own:
  1. `import`   the statement into an empty database;
  2. `reimport` the same statement again (nothing may be written).
Two pipelines are measured:
  * `files`:  `foliosync.sync.importing.import_files` with the file's bytes, as `foliosync import`
              does today (the whole file and the whole Batch are held in memory);
  * `stream`: the same parser and normalizer fed from disk in 1 MiB chunks, trades written every
              `--chunk` records with the shared `write_batch`, the rest and the bookkeeping through
              `import_batch` (the streaming path proposed in docs/benchmarks/flex.md).
Rows/s counts every ledger record written or compared (trades, cash, positions, lots, balances...).
PostgreSQL: set FOLIOSYNC_BENCH_PG_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _records(counts: dict[str, dict[str, int]]) -> tuple[int, int]:
    """(ledger records handled, records written) from an import summary's counts."""
    handled = written = 0
    for table, row in counts.items():
        if table == "instruments":
            continue
        handled += row["inserted"] + row["updated"] + row["unchanged"]
        written += row["inserted"] + row["updated"]
    return handled, written


def _merge(total: dict[str, dict[str, int]], counts: dict[str, dict[str, int]]) -> None:
    for table, row in counts.items():
        slot = total.setdefault(table, {"inserted": 0, "updated": 0, "unchanged": 0})
        for name, value in row.items():
            slot[name] += value


def _run_files(session, user, path: Path) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    from foliosync.importers import get_format
    from foliosync.sync.importing import import_files

    summary = import_files(session, user, get_format("ibkr-flex"), [(path.name, path.read_bytes())])
    total: dict[str, dict[str, int]] = {}
    for account in summary.accounts:
        _merge(total, account.counts)
    return total


def _archive_streaming(session, user_id: int, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Keep the raw file like store_raw_payload does, without holding it uncompressed."""
    from sqlalchemy import select

    from foliosync.models import RawPayload

    digest = hashlib.sha256()
    packer = zlib.compressobj(6)
    parts: list[bytes] = []
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            parts.append(packer.compress(chunk))
            size += len(chunk)
    parts.append(packer.flush())
    sha = digest.hexdigest()
    if session.scalar(select(RawPayload.id).where(RawPayload.user_id == user_id, RawPayload.sha256 == sha)):
        return
    payload = RawPayload(
        user_id=user_id,
        broker="ibkr",
        kind="ibkr-flex",
        source_name=path.name,
        sha256=sha,
        size=size,
        compressed=b"".join(parts),
    )
    del parts
    session.add(payload)
    session.flush()
    session.expunge(payload)  # the identity map would keep the compressed file for the whole import


def _run_stream(session, user, path: Path, chunk: int) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    from foliosync.brokers.ibkr.flex_parser import iter_flex_events
    from foliosync.brokers.ibkr.normalizer import FlexNormalizer, cyclic_gc_paused
    from foliosync.importers import get_format
    from foliosync.ledger.records import Batch
    from foliosync.ledger.taxonomy import Broker, SourceFormat
    from foliosync.ledger.writer import write_batch
    from foliosync.sync.importing import import_batch, resolve_accounts

    fmt = get_format("ibkr-flex")
    total: dict[str, dict[str, int]] = {}
    normalizer = FlexNormalizer(path.name)
    _archive_streaming(session, user.id, path)

    def flush() -> None:
        part = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML, trades=normalizer.drain_trades())
        accounts = resolve_accounts(session, user, fmt, part, None)
        report = write_batch(
            session, part, {n: a.id for n, a in accounts.items()}, user_id=user.id, archive=False
        )
        _merge(total, report.as_dict())

    with path.open("rb") as handle, cyclic_gc_paused():
        for event in iter_flex_events(handle, path.name):
            normalizer.feed(event)
            if len(normalizer.ctx.batch.trades) >= chunk:
                flush()
        rest = normalizer.finish()
    summary = import_batch(session, user, fmt, rest, [path.name])
    for account in summary.accounts:
        _merge(total, account.counts)
    return total


def child(args: argparse.Namespace) -> None:
    """One measured step in this (fresh) process; prints one JSON line."""
    from sqlalchemy import select

    from foliosync.db.migrate import upgrade
    from foliosync.db.session import build_engine, session_factory
    from foliosync.models import User

    engine = build_engine(args.url)
    if args.step == "import":
        upgrade(engine)
    session = session_factory(engine)()
    user = session.scalar(select(User).where(User.email == "bench@example.com"))
    if user is None:
        user = User(email="bench@example.com", password_hash="x")
        session.add(user)
        session.commit()
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    path = Path(args.file)
    counts = (
        _run_files(session, user, path)
        if args.pipeline == "files"
        else _run_stream(session, user, path, args.chunk)
    )
    session.commit()
    elapsed = time.perf_counter() - started
    handled, written = _records(counts)
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "records": handled,
                "written": written,
                "rows_per_s": handled / elapsed,
                "peak_rss_mb": _peak_rss_mb(),
                "rss_before_mb": baseline,
            }
        )
    )


def _create_pg_database(admin_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    from foliosync.db.session import normalize_database_url

    name = f"foliosync_bench_{secrets.token_hex(3)}"
    admin = create_engine(normalize_database_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def _drop_pg_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    from foliosync.db.session import normalize_database_url

    admin = create_engine(normalize_database_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _step(url: str, step: str, pipeline: str, file: Path, chunk: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--url",
            url,
            "--step",
            step,
            "--pipeline",
            pipeline,
            "--file",
            str(file),
            "--chunk",
            str(chunk),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--pipelines", default="files,stream")
    parser.add_argument("--chunk", type=int, default=20_000, help="trades per write in the stream pipeline")
    parser.add_argument("--file", help="use this statement instead of generating one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    admin_url = os.environ.get(
        "FOLIOSYNC_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    with tempfile.TemporaryDirectory(prefix="flexbench") as tmp:
        statement = Path(args.file) if args.file else Path(tmp) / f"flex-{args.trades}.xml"
        if not args.file:
            subprocess.run(
                [sys.executable, str(HERE / "gen_flex.py"), str(args.trades), str(statement)],
                check=True,
                capture_output=True,
            )
        size_mb = statement.stat().st_size / 1e6
        print(f"statement: {statement.name}, {size_mb:.1f} MB, {args.trades} trades")
        print(
            f"{'engine':<11}{'pipeline':<9}{'step':<9}{'seconds':>8}{'records':>9}{'written':>9}"
            f"{'rows/s':>9}{'peak RSS MB':>13}"
        )
        for engine in args.engines.split(","):
            for pipeline in args.pipelines.split(","):
                if engine == "postgresql":
                    url, name = _create_pg_database(admin_url)
                else:
                    url, name = f"sqlite:///{tmp}/bench-{pipeline}.db", ""
                try:
                    for step in ("import", "reimport"):
                        r = _step(url, step, pipeline, statement, args.chunk)
                        print(
                            f"{engine:<11}{pipeline:<9}{step:<9}{r['seconds']:>8.2f}{r['records']:>9.0f}"
                            f"{r['written']:>9.0f}{r['rows_per_s']:>9.0f}{r['peak_rss_mb']:>13.0f}"
                        )
                finally:
                    if name:
                        _drop_pg_database(admin_url, name)


if __name__ == "__main__":
    main()
