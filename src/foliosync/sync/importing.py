"""Import downloaded files into a user's ledger: parse, map accounts, upsert, reconcile, summarise.

Files given as bytes are parsed completely before anything is written. Files given as open binary
files (the CLI) of a format with `parse_stream` are streamed: settled records are written in
chunks while the rest is read, so memory stays flat for statements of hundreds of megabytes
(docs/benchmarks/flex.md), and a bad file raises after some rows were written. Either way the
caller commits once at the end and rolls back on any error (every caller does: the CLI, the API
and the web upload), so a bad file leaves the ledger exactly as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import tempfile
import threading
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from foliosync.db.types import canonical_decimal
from foliosync.db.upsert import UpsertReport
from foliosync.errors import ValidationFailed
from foliosync.importers import UNSPECIFIED_ACCOUNT, FileFormat, StreamedBatch
from foliosync.ledger.reconcile import reconcile_account
from foliosync.ledger.records import Batch, RawPayloadRef
from foliosync.ledger.taxonomy import AccountStatus, SyncStatus
from foliosync.ledger.writer import (
    PackedPayload,
    bump_ledger_versions,
    ensure_instruments,
    store_packed_payload,
    store_raw_payload,
    write_records,
)
from foliosync.memory import release_free_memory
from foliosync.models import AccountSync, BrokerAccount, RawPayload, User
from foliosync.sync import import_replay
from foliosync.sync.lots import refresh_computed_lots


@dataclass
class AccountImportSummary:
    account_id: int
    external_account_id: str | None
    alias: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    cash_totals: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> currency -> amount
    unknown_types: dict[str, int] = field(default_factory=dict)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    status: str = SyncStatus.SUCCESS.value
    warnings: list[str] = field(default_factory=list)  # why the import is PARTIAL, if it is
    sync_id: int | None = None


@dataclass
class ImportSummary:
    format: str
    files: list[str]
    accounts: list[AccountImportSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # True when the files were imported before into accounts unchanged since, so the import was
    # answered from that import's record without parsing them (sync/import_replay.py).
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "files": self.files,
            "replayed": self.replayed,
            "warnings": self.warnings,
            "accounts": [a.__dict__ for a in self.accounts],
        }


def _cash_totals(batch: Batch, account: str) -> dict[str, dict[str, str]]:
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in batch.cash:
        if record.account == account:
            totals[record.kind.value][record.currency] += record.amount
    return {
        kind: {cur: canonical_decimal(v) for cur, v in sorted(c.items())}
        for kind, c in sorted(totals.items())
    }


def _find_or_create(
    session: Session, user: User, broker: str, external_id: str, base_currency: str, alias: str | None
) -> BrokerAccount:
    account = session.scalar(
        select(BrokerAccount).where(
            BrokerAccount.user_id == user.id,
            BrokerAccount.broker == broker,
            BrokerAccount.external_account_id == external_id,
        )
    )
    if account is None:
        account = BrokerAccount(
            user_id=user.id,
            broker=broker,
            external_account_id=external_id,
            alias=alias or f"{broker.upper()} {external_id[-4:]}",
            base_currency=base_currency,
            status=AccountStatus.CONNECTED.value,
        )
        session.add(account)
        session.flush()
    return account


def resolve_accounts(
    session: Session, user: User, fmt: FileFormat, batch: Batch, target: BrokerAccount | None
) -> dict[str, BrokerAccount]:
    """Map every account number in the batch to one of the user's BrokerAccounts."""
    broker = fmt.broker.value
    if target is not None and target.broker != broker:
        raise ValidationFailed(
            f"Account {target.alias!r} is a {target.broker} account; this is a {broker} file ({fmt.name})."
        )
    infos = {a.external_account_id: a for a in batch.accounts}
    mapping: dict[str, BrokerAccount] = {}
    for number in batch.account_numbers():
        info = infos.get(number)
        if number == UNSPECIFIED_ACCOUNT:
            if target is None:
                raise ValidationFailed(
                    f"{fmt.name} files do not name their account.",
                    hint="Choose the account to import into (--account ID, or the account's import page).",
                )
            mapping[number] = target
        elif target is not None and target.external_account_id in (None, number):
            target.external_account_id = number
            mapping[number] = target
        elif target is not None and not fmt.names_accounts:
            mapping[number] = target
        else:
            mapping[number] = _find_or_create(
                session,
                user,
                broker,
                number,
                info.base_currency if info else "USD",
                info.alias if info else None,
            )
    return mapping


def import_batch(
    session: Session,
    user: User,
    fmt: FileFormat,
    batch: Batch,
    files: list[str],
    target: BrokerAccount | None = None,
    *,
    trigger: str = "import",
    import_key: str | None = None,
) -> ImportSummary:
    return _import_parsed(session, user, fmt, batch, files, target, trigger=trigger, import_key=import_key)


def _import_parsed(
    session: Session,
    user: User,
    fmt: FileFormat,
    batch: Batch,
    files: list[str],
    target: BrokerAccount | None = None,
    *,
    trigger: str = "import",
    streamed: _StreamedWrites | None = None,
    import_key: str | None = None,
) -> ImportSummary:
    """import_batch, plus what a streamed import already wrote (`streamed`): its counts are added
    to each account's, and the accounts it created get their final base currency and alias."""
    accounts = resolve_accounts(session, user, fmt, batch, target)
    if streamed is not None:
        for number in streamed.accounts.keys() - accounts.keys():
            accounts[number] = streamed.accounts[number]
        streamed.finish_created_accounts(fmt, batch)
    account_ids = {number: acct.id for number, acct in accounts.items()}
    started = datetime.now(UTC)
    single = next(iter(accounts.values())) if len(accounts) == 1 else None
    for ref in batch.raw_payloads:
        store_raw_payload(session, user.id, fmt.broker.value, ref, single.id if single else None)
    summary = ImportSummary(format=fmt.name, files=files, warnings=list(batch.warnings))
    syncs: list[AccountSync] = []
    for number, account in accounts.items():
        part = batch.for_account(number)
        # write_batch(archive=False), with the streamed parts' counts folded in before the bump.
        known = streamed.instrument_ids if streamed is not None else None
        report = write_records(session, part, account_ids, known_instruments=known)
        if streamed is not None and number in streamed.reports:
            for table, table_counts in streamed.reports[number].by_table.items():
                report.add(table, table_counts)
        if report.written:
            bump_ledger_versions(session, account_ids.values())
        counts = report.as_dict()
        lots = refresh_computed_lots(session, account, batch.source.value)
        if lots is not None:
            counts["computed_lots"] = lots
        result = reconcile_account(session, account.id, number, part, account_ids)
        status = SyncStatus.SUCCESS
        warnings = [f"section missing or empty: {s}" for s in sorted(batch.missing_sections)]
        if warnings or (result.checked and not result.ok):
            status = SyncStatus.PARTIAL
        now = datetime.now(UTC)
        sync = AccountSync(
            account_id=account.id,
            status=status.value,
            trigger=trigger,
            queued_at=started,
            started_at=started,
            finished_at=now,
            duration_ms=int((now - started).total_seconds() * 1000),
            counts=counts,
            reconciliation=result.as_dict(),
            warnings=warnings,
        )
        session.add(sync)
        syncs.append(sync)
        account.sync_status = status.value
        account.last_sync_at = now
        if account.status == AccountStatus.PENDING.value:
            account.status = AccountStatus.CONNECTED.value
        if status is SyncStatus.SUCCESS:
            account.last_successful_sync = now
        session.flush()
        summary.accounts.append(
            AccountImportSummary(
                account_id=account.id,
                external_account_id=account.external_account_id,
                alias=account.alias,
                counts=counts,
                cash_totals=_cash_totals(part, number),
                unknown_types=dict(batch.unknown_types),
                reconciliation=result.as_dict(),
                status=status.value,
                warnings=warnings
                + (
                    [f"reconciliation found {len(result.differences)} differences"]
                    if result.checked and not result.ok
                    else []
                ),
                sync_id=sync.id,
            )
        )
    _record_for_replay(session, summary, syncs, import_key)
    return summary


def _record_for_replay(
    session: Session, summary: ImportSummary, syncs: list[AccountSync], import_key: str | None
) -> None:
    """What sync/import_replay.py needs to answer the same files again without parsing them."""
    if import_key is None:
        return
    rows = session.execute(
        select(BrokerAccount.id, BrokerAccount.ledger_version).where(
            BrokerAccount.id.in_([s.account_id for s in syncs])
        )
    )
    versions = {account_id: version for account_id, version in rows}
    for sync, account_summary in zip(syncs, summary.accounts, strict=True):
        sync.import_key = import_key
        sync.ledger_version_after = versions[sync.account_id]
        sync.details = {
            "accounts_in_import": len(syncs),
            "cash_totals": account_summary.cash_totals,
            "unknown_types": account_summary.unknown_types,
            "summary_warnings": account_summary.warnings,
            "import_warnings": summary.warnings,
        }
    session.flush()


def _replay(
    session: Session, fmt: FileFormat, files: list[str], previous: import_replay.PreviousImport
) -> ImportSummary:
    syncs = import_replay.record_replay(session, previous, trigger="import")
    first = previous.syncs[0][0]
    summary = ImportSummary(
        format=fmt.name, files=files, warnings=list(first.details.get("import_warnings", [])), replayed=True
    )
    for (old, account), new in zip(previous.syncs, syncs, strict=True):
        summary.accounts.append(
            AccountImportSummary(
                account_id=account.id,
                external_account_id=account.external_account_id,
                alias=account.alias,
                sync_id=new.id,
                **import_replay.replay_summary_fields(old),
            )
        )
    return summary


FileSource = bytes | BinaryIO


def import_files(
    session: Session,
    user: User,
    fmt: FileFormat,
    files: Sequence[tuple[str, FileSource]],
    target: BrokerAccount | None = None,
    *,
    reparse: bool = False,
) -> ImportSummary:
    """Import files given as bytes or open binary files (see the module docstring).

    Bytes: every file is parsed first (an error names the file and line; nothing is written).
    Open files of a streaming format, without a target account: streamed in bounded memory.
    Files imported before into accounts unchanged since are not parsed again (sync/import_replay.py)
    unless `reparse`.
    """
    if not files:
        raise ValidationFailed("No files given.")
    digests = import_replay.file_digests(files)
    key = import_replay.import_key(fmt, digests, target) if digests is not None else None
    if key is not None and not reparse:
        previous = import_replay.find_previous_import(session, user, key)
        if previous is not None:
            return _replay(session, fmt, [name for name, _ in files], previous)
    if (
        fmt.parse_stream is not None
        and target is None
        and all(not isinstance(content, bytes | bytearray) for _, content in files)
    ):
        return _import_streams(
            session, user, fmt, [(n, c) for n, c in files if not isinstance(c, bytes | bytearray)], key
        )
    parsed: list[Batch] = []
    for name, source in files:
        content = bytes(source) if isinstance(source, bytes | bytearray) else source.read()
        batch = fmt.parse(content, name)
        if not batch.raw_payloads:
            batch.raw_payloads.append(RawPayloadRef(kind=fmt.name, content=content, source_name=name))
        parsed.append(batch)
    merged = parsed[0]
    for extra in parsed[1:]:
        merged.extend(extra)
    return import_batch(session, user, fmt, merged, [name for name, _ in files], target, import_key=key)


# --- streaming -------------------------------------------------------------------------------------


class _StreamedWrites:
    """Accounts resolved and counts written while files stream (before their final part)."""

    def __init__(self, session: Session, user: User, fmt: FileFormat) -> None:
        self.session = session
        self.user = user
        self.broker = fmt.broker.value
        self.format_name = fmt.name
        self.accounts: dict[str, BrokerAccount] = {}
        self.created: set[str] = set()
        self.reports: dict[str, UpsertReport] = {}
        self.instrument_ids: dict[str, int] = {}

    def account(self, number: str) -> BrokerAccount:
        """The account for a number met in an early part. Streaming runs without a target account
        and only for formats that name their accounts, so this is resolve_accounts' find-or-create;
        the account's base currency and alias are only known at the end (finish_created_accounts)."""
        found = self.accounts.get(number)
        if found is None:
            if number == UNSPECIFIED_ACCOUNT:
                raise ValidationFailed(
                    f"{self.format_name} files do not name their account.",
                    hint="Choose the account to import into (--account ID, or the account's import page).",
                )
            existing = self.session.scalar(
                select(BrokerAccount).where(
                    BrokerAccount.user_id == self.user.id,
                    BrokerAccount.broker == self.broker,
                    BrokerAccount.external_account_id == number,
                )
            )
            if existing is None:
                self.created.add(number)
                existing = _find_or_create(self.session, self.user, self.broker, number, "USD", None)
            found = self.accounts[number] = existing
        return found

    def write(self, part: StreamedBatch) -> None:
        if part.instruments:  # enriched after their trades were written: fill in what they add
            ensure_instruments(self.session, part.instruments)
        numbers = part.account_numbers()
        for number in numbers:
            account = self.account(number)
            piece = part if len(numbers) == 1 else part.for_account(number)
            report = write_records(
                self.session, piece, {number: account.id}, known_instruments=self.instrument_ids
            )
            self.reports.setdefault(number, UpsertReport())
            for table, counts in report.by_table.items():
                self.reports[number].add(table, counts)

    def finish_created_accounts(self, fmt: FileFormat, final: Batch) -> None:
        """Give accounts created from an early part what resolve_accounts would have given them."""
        infos = {a.external_account_id: a for a in final.accounts}
        for number in self.created:
            info = infos.get(number)
            if info is not None:
                account = self.accounts[number]
                account.base_currency = info.base_currency
                account.alias = info.alias or f"{fmt.broker.value.upper()} {number[-4:]}"


class _Packer:
    """sha256 + zlib of a file as it is read, on a worker thread: both release the GIL, so the
    archive is made on the second core while the parser runs, without holding the file."""

    LEVEL = 1  # 4x faster than level 6 for ~30% more bytes; read_raw_payload reads any level

    def __init__(self) -> None:
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._digest = hashlib.sha256()
        self._packer = zlib.compressobj(self.LEVEL)
        # On disk until the import stores it: not held while the statement is parsed and written.
        self._out = tempfile.TemporaryFile()
        self._size = 0
        self._thread = threading.Thread(target=self._run, name="payload-packer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._digest.update(chunk)
            self._out.write(self._packer.compress(chunk))
            self._size += len(chunk)

    def add(self, chunk: bytes) -> None:
        if chunk:
            self._chunks.put(chunk)

    def close(self) -> PackedPayload:
        self._chunks.put(None)
        self._thread.join()
        self._out.write(self._packer.flush())
        self._out.seek(0)
        compressed = self._out.read()
        self._out.close()
        return PackedPayload(sha256=self._digest.hexdigest(), size=self._size, compressed=compressed)

    def abandon(self) -> None:
        self._chunks.put(None)
        self._thread.join()
        self._out.close()


class _Tee:
    """A read-only binary file that hands every byte read to a _Packer, once and in order, even
    when the reader reads the file twice (flex_prescan reads it, rewinds, and the parser reads it)."""

    def __init__(self, source: BinaryIO, packer: _Packer) -> None:
        self._source = source
        self._packer = packer
        self._position = source.tell() if source.seekable() else 0
        self._fed = self._position  # bytes before this offset went to the packer already
        self.complete = False  # the whole file went to the packer

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        if not chunk and size != 0:
            self.complete = True
        end = self._position + len(chunk)
        if end > self._fed:
            self._packer.add(chunk[self._fed - self._position :] if self._position < self._fed else chunk)
            self._fed = end
        self._position = end
        return chunk

    def seekable(self) -> bool:
        return self._source.seekable()

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        self._position = self._source.seek(offset, whence)
        if self._position > self._fed:
            raise ValueError("the import reads its file in order; it cannot skip ahead")
        return self._position


class _BackgroundWriter:
    """Writes early parts on a second thread while the main thread parses the next one (PostgreSQL:
    the server's merge time and the driver's waits overlap parsing). The session is used by one
    thread at a time: only this one until `close`, which joins it before the caller goes on."""

    def __init__(self, streamed: _StreamedWrites) -> None:
        self._streamed = streamed
        self._parts: queue.Queue[StreamedBatch | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (part := self._parts.get()) is not None:
            if self._error is None:
                try:
                    self._streamed.write(part)
                except Exception as exc:  # noqa: BLE001 - re-raised on the main thread by close()
                    self._error = exc
            del part
            release_free_memory()  # the part's records and rows are garbage now: keep the footprint flat
            self._parts.task_done()

    def write(self, part: StreamedBatch) -> None:
        # One part written while the next is parsed, never more in memory: wait for the previous.
        self._parts.join()
        if self._error is not None:
            self.close()
        self._parts.put(part)

    def close(self) -> None:
        """Wait for every queued part to be written; raise what writing raised."""
        if self._thread.is_alive():
            self._parts.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


def _store_packed(
    session: Session, user: User, fmt: FileFormat, name: str, packer: _Packer, created_ids: list[int]
) -> None:
    payload_id, created = store_packed_payload(
        session, user.id, fmt.broker.value, packer.close(), kind=fmt.name, source_name=name
    )
    if created:
        created_ids.append(payload_id)


def _import_streams(
    session: Session, user: User, fmt: FileFormat, files: list[tuple[str, BinaryIO]], import_key: str | None
) -> ImportSummary:
    assert fmt.parse_stream is not None
    streamed = _StreamedWrites(session, user, fmt)
    finals: list[Batch] = []
    payload_ids: list[int] = []
    background = session.get_bind().dialect.name == "postgresql"
    for name, source in files:
        packer = _Packer()
        tee = _Tee(source, packer)
        writer = _BackgroundWriter(streamed) if background else None
        stored = handed = False
        try:
            for part in fmt.parse_stream(tee, name):  # type: ignore[arg-type]
                if not stored and not handed and tee.complete:
                    # The whole file went through the packer already (flex_prescan reads it first):
                    # store it now, so the compressed copy is not held while the statement is parsed
                    # and written. Nothing was handed to the writer thread yet: the session is free.
                    _store_packed(session, user, fmt, name, packer, payload_ids)
                    stored = True
                if isinstance(part, StreamedBatch):
                    (writer or streamed).write(part)
                    handed = True
                else:
                    finals.append(part)
                del part  # not kept alive while the next part is read
                if writer is None:
                    release_free_memory()
            if writer is not None:
                writer.close()
        except BaseException:
            packer.abandon()
            if writer is not None:
                with contextlib.suppress(Exception):  # the parse error is the one to report
                    writer.close()
            raise
        if not stored:
            _store_packed(session, user, fmt, name, packer, payload_ids)
    merged = finals[0]
    for extra in finals[1:]:
        merged.extend(extra)
    summary = _import_parsed(
        session, user, fmt, merged, [name for name, _ in files], streamed=streamed, import_key=import_key
    )
    if len(summary.accounts) == 1:  # as import_batch: a payload of a single account names it
        session.execute(
            update(RawPayload)
            .where(RawPayload.id.in_(payload_ids))
            .values(account_id=summary.accounts[0].account_id)
        )
    return summary
