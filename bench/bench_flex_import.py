"""Benchmark: import a large IBKR Flex statement end to end (parse, normalize, upsert, commit).

    .venv/bin/python bench/bench_flex_import.py                 # 100k trades, PostgreSQL and SQLite
    .venv/bin/python bench/bench_flex_import.py --trades 20000 --engines sqlite

For each engine, each step runs in a fresh Python process so its peak RSS is its own:
  1. `import`   the statement into an empty database;
  2. `reimport` the same statement again (nothing may be written): answered without parsing it,
                because the accounts are unchanged since (docs/decisions/0009-import-replay.md);
  3. `reparse`  the same statement again with reparse=True: parsed, normalized and compared.
Two pipelines are measured:
  * `files`:  `foliosync.sync.importing.import_files` with the file's bytes, as the web upload and
              the API do (the whole file and the whole Batch are held in memory);
  * `stream`: `import_files` with the open file, as `foliosync import ibkr-flex FILE` does: the
              format's `parse_stream` writes settled trades in chunks while the file is read and
              the file is archived by a streaming sha256 + zlib (docs/benchmarks/flex.md).
Rows/s counts every ledger record written or compared (trades, cash, positions, lots, balances...).
PostgreSQL: set FOLIOSYNC_BENCH_PG_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
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


def _run_files(session, user, path: Path, reparse: bool) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    from foliosync.importers import get_format
    from foliosync.sync.importing import import_files

    fmt = get_format("ibkr-flex")
    summary = import_files(session, user, fmt, [(path.name, path.read_bytes())], reparse=reparse)
    total: dict[str, dict[str, int]] = {}
    for account in summary.accounts:
        _merge(total, account.counts)
    return total


def _run_stream(session, user, path: Path, reparse: bool) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    from foliosync.importers import get_format
    from foliosync.sync.importing import import_files

    with path.open("rb") as handle:
        summary = import_files(session, user, get_format("ibkr-flex"), [(path.name, handle)], reparse=reparse)
    total: dict[str, dict[str, int]] = {}
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
    # Load the import's modules before the clock starts: with PYTHONDONTWRITEBYTECODE (set on the
    # project's machine) every run would otherwise compile them from source, which an installed
    # foliosync (with its .pyc files) does not do. The measurement is the import, not the compiler.
    from foliosync.importers import get_format
    from foliosync.sync import importing  # noqa: F401

    get_format("ibkr-flex")
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    path = Path(args.file)
    run = _run_files if args.pipeline == "files" else _run_stream
    counts = run(session, user, path, args.step == "reparse")
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


def _step(url: str, step: str, pipeline: str, file: Path) -> dict[str, float]:
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
    parser.add_argument("--file", help="use this statement instead of generating one")
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine and pipeline (medians shown)")
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
        medians: list[str] = []
        for engine in args.engines.split(","):
            for pipeline in args.pipelines.split(","):
                runs: dict[str, list[dict[str, float]]] = {step: [] for step in STEPS}
                for run in range(args.repeat):
                    if engine == "postgresql":
                        url, name = _create_pg_database(admin_url)
                    else:
                        url, name = f"sqlite:///{tmp}/bench-{pipeline}-{run}.db", ""
                    try:
                        for step in STEPS:
                            r = _step(url, step, pipeline, statement)
                            runs[step].append(r)
                            print(_line(engine, pipeline, step, r), flush=True)
                    finally:
                        if name:
                            _drop_pg_database(admin_url, name)
                if args.repeat > 1:
                    for step, results in runs.items():
                        median = {k: statistics.median(r[k] for r in results) for k in results[0]}
                        medians.append(_line(engine, pipeline, step, median))
                    first = statistics.median(r["seconds"] for r in runs["import"])
                    again = statistics.median(r["seconds"] for r in runs["reimport"])
                    parsed = statistics.median(r["seconds"] for r in runs["reparse"])
                    medians.append(
                        f"{engine:<11}{pipeline:<9}re-import speed-up {first / again:.2f}x "
                        f"(answered without parsing), {first / parsed:.2f}x (--reparse)"
                    )
        if medians:
            print(f"medians of {args.repeat} runs:")
            print("\n".join(medians))


# import: into an empty database; reimport: the same file again (answered without parsing it,
# docs/decisions/0009); reparse: the same file again with reparse=True (parsed and compared).
STEPS = ("import", "reimport", "reparse")


def _line(engine: str, pipeline: str, step: str, r: dict[str, float]) -> str:
    return (
        f"{engine:<11}{pipeline:<9}{step:<9}{r['seconds']:>8.2f}{r['records']:>9.0f}"
        f"{r['written']:>9.0f}{r['rows_per_s']:>9.0f}{r['peak_rss_mb']:>13.0f}"
    )


if __name__ == "__main__":
    main()
