"""foliosync import FORMAT FILE...: import downloaded statements and exports into the ledger.

Generic over the formats in `foliosync.importers`. Every file is parsed before anything is written
and the command commits once, so a bad file leaves the ledger exactly as it was (exit code 1).
`--json` prints `ImportSummary.as_dict()`; its schema is in docs/import-summary.md.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from foliosync.cli.context import cli_engine, console, err_console, resolve_user
from foliosync.cli.main import app
from foliosync.db.session import session_factory
from foliosync.errors import FoliosyncError, NotFoundError
from foliosync.importers import get_format
from foliosync.models import AccountSync, BrokerAccount
from foliosync.sync.importing import AccountImportSummary, ImportSummary, import_files

STATUS_COLOURS = {"SUCCESS": "green", "PARTIAL": "yellow"}


def _fail(exc: FoliosyncError) -> typer.Exit:
    err_console.print(f"[red]Import failed:[/] {escape(exc.message)}")
    if exc.hint:
        err_console.print(escape(exc.hint))
    err_console.print("Nothing was written.")
    return typer.Exit(1)


def _open(paths: list[Path], stack: ExitStack) -> list[tuple[str, BinaryIO]]:
    """Open every file up front (a missing one fails before anything is read). They are handed to
    import_files open, so a large statement is streamed instead of read into memory."""
    files: list[tuple[str, BinaryIO]] = []
    for path in paths:
        try:
            files.append((path.name, stack.enter_context(path.open("rb"))))
        except OSError as exc:
            raise NotFoundError(
                f"Cannot read {path}: {exc.strerror or exc}.", hint="Check the file name and its permissions."
            ) from None
    return files


@app.command("import")
def import_command(
    format_name: str = typer.Argument(
        ..., metavar="FORMAT", help="The file format, e.g. ibkr-flex (an unknown name lists them all)."
    ),
    paths: list[Path] = typer.Argument(..., metavar="FILE...", help="The files to import, in any order."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (docs/import-summary.md)."),
    account: int | None = typer.Option(
        None, "--account", help="Account id to import into (needed for files that do not name their account)."
    ),
    user: str | None = typer.Option(None, "--user", help="Import for this user (e-mail)."),
    reparse: bool = typer.Option(
        False,
        "--reparse",
        help="Parse the files even if they were imported before into accounts unchanged since.",
    ),
) -> None:
    """Import statement files; re-importing the same data changes nothing."""
    engine = cli_engine()
    session = session_factory(engine)()
    stack = ExitStack()
    try:
        fmt = get_format(format_name)
        files = _open(paths, stack)
        owner = resolve_user(session, user)
        target = None
        if account is not None:
            target = session.scalar(
                select(BrokerAccount).where(BrokerAccount.id == account, BrokerAccount.user_id == owner.id)
            )
            if target is None:
                raise NotFoundError(
                    f"You have no account {account}.", hint="See them with: foliosync accounts list"
                )
        with err_console.status(f"Importing {len(files)} file(s) as {fmt.name}..."):
            summary = import_files(session, owner, fmt, files, target, reparse=reparse)
        # Why an account is PARTIAL (a missing section...) is kept on its sync record.
        reasons = {
            a.account_id: list(sync.warnings or [])
            for a in summary.accounts
            if a.sync_id is not None and (sync := session.get(AccountSync, a.sync_id)) is not None
        }
        session.commit()
    except FoliosyncError as exc:
        session.rollback()
        raise _fail(exc) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        stack.close()
        session.close()
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2, sort_keys=True))
    else:
        print_summary(summary, reasons)


def print_summary(summary: ImportSummary, reasons: dict[int, list[str]] | None = None) -> None:
    console.print(f"Imported {len(summary.files)} file(s) as [bold]{summary.format}[/].")
    if summary.replayed:
        console.print(
            "Imported before into accounts unchanged since: nothing to write, the files were not "
            "parsed again (--reparse parses them)."
        )
    for account in summary.accounts:
        _print_account(account)
        for reason in (reasons or {}).get(account.account_id, []):
            console.print(f"[yellow]{escape(reason)}[/]")
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def _print_account(account: AccountImportSummary) -> None:
    colour = STATUS_COLOURS.get(account.status, "red")
    number = account.external_account_id or "-"
    console.rule(
        f"{escape(account.alias)} ({escape(number)}, id {account.account_id}): [{colour}]{account.status}[/]"
    )
    counts = Table("records", "inserted", "updated", "unchanged", title="Records")
    for table, row in account.counts.items():
        counts.add_row(
            table, str(row.get("inserted", 0)), str(row.get("updated", 0)), str(row.get("unchanged", 0))
        )
    console.print(counts)
    if account.cash_totals:
        cash = Table("cash kind", "currency", "total", title="Cash")
        for kind, per_currency in account.cash_totals.items():
            for currency, amount in per_currency.items():
                cash.add_row(kind, currency, amount)
        console.print(cash)
    if account.unknown_types:
        console.print("[yellow]Unmapped types (imported as OTHER, flagged for review):[/]")
        for raw, count in sorted(account.unknown_types.items()):
            console.print(f"  {escape(raw)}: {count}")
    _print_reconciliation(account.reconciliation)


def _print_reconciliation(result: dict[str, object]) -> None:
    if not result.get("checked"):
        console.print("Reconciliation: not checked.")
    elif result.get("ok"):
        console.print("Reconciliation: [green]ledger matches what the broker reports.[/]")
    else:
        table = Table(
            "kind", "subject", "ledger", "reported", "difference", title="Reconciliation differences"
        )
        for diff in result.get("differences") or []:  # type: ignore[attr-defined]
            table.add_row(diff["kind"], diff["subject"], diff["ledger"], diff["reported"], diff["difference"])
        console.print(table)
    for note in result.get("notes") or []:  # type: ignore[attr-defined]
        console.print(f"  {escape(str(note))}")
