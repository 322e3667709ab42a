"""Answer the import of a statement that was already imported, into accounts unchanged since, without
parsing it again.

Importing the same Flex statement twice is common (a nightly download that did not change, a user
re-running a command) and a 150 MB statement takes many seconds to parse and compare. Whether such
an import would change anything is known without reading it: the result of an import depends only on
the files, the code that parses them and the ledger of the accounts it writes to. So every import
records on its AccountSync rows an `import_key` (a hash of the format, the foliosync version and
every file's sha256, in order) and each account's `ledger_version` once the import was written
(every ledger write bumps it, in the same transaction). An import whose key matches the latest
import with that key, all of whose accounts still exist and still have those versions, would write
nothing: it is answered from that import's record, as "unchanged", with a new AccountSync row per
account. Anything else (another version, a later write to any of the accounts, an account deleted,
`reparse=True`) parses as usual.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync import __version__
from foliosync.importers import FileFormat
from foliosync.ledger.taxonomy import SyncStatus
from foliosync.models import AccountSync, BrokerAccount, User

_CHUNK = 1 << 20


def file_digests(files: Sequence[tuple[str, bytes | BinaryIO]]) -> list[str] | None:
    """sha256 of every file (open files are read and rewound); None if one cannot be rewound."""
    digests = []
    for _name, source in files:
        digest = hashlib.sha256()
        if isinstance(source, bytes | bytearray):
            digest.update(source)
        else:
            if not source.seekable():
                return None
            start = source.tell()
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
            source.seek(start)
        digests.append(digest.hexdigest())
    return digests


def import_key(fmt: FileFormat, digests: Sequence[str], target: BrokerAccount | None) -> str:
    key = hashlib.sha256(f"{fmt.name}\n{__version__}\n{target.id if target else ''}\n".encode())
    for digest in digests:
        key.update(f"{digest}\n".encode())
    return key.hexdigest()


@dataclass(frozen=True)
class PreviousImport:
    syncs: list[tuple[AccountSync, BrokerAccount]]


def find_previous_import(session: Session, user: User, key: str) -> PreviousImport | None:
    """The latest import with this key, if every account it wrote is unchanged since."""
    rows = session.execute(
        select(AccountSync, BrokerAccount)
        .join(BrokerAccount, AccountSync.account_id == BrokerAccount.id)
        .where(BrokerAccount.user_id == user.id, AccountSync.import_key == key)
        .order_by(AccountSync.id.desc())
        .execution_options(populate_existing=True)  # versions as the database has them now
    ).all()
    if not rows:
        return None
    # One import's rows share their start time (sync/importing.py sets it once per import).
    started = rows[0][0].started_at
    group = sorted(((s, a) for s, a in rows if s.started_at == started), key=lambda pair: pair[0].id)
    if len(group) != group[0][0].details.get("accounts_in_import"):
        return None  # an account of that import was deleted since: parsing would re-create it
    for sync, account in group:
        if sync.status not in (SyncStatus.SUCCESS.value, SyncStatus.PARTIAL.value):
            return None
        if sync.ledger_version_after is None or account.ledger_version != sync.ledger_version_after:
            return None
    return PreviousImport(group)


def _all_unchanged(counts: dict[str, Any]) -> dict[str, Any]:
    return {
        table: {"inserted": 0, "updated": 0, "unchanged": sum(int(n) for n in row.values())}
        for table, row in counts.items()
    }


def replay_summary_fields(previous: AccountSync) -> dict[str, Any]:
    """What the import summary of `previous` said per account, as a replay repeats it."""
    return {
        "counts": _all_unchanged(previous.counts),
        "cash_totals": previous.details.get("cash_totals", {}),
        "unknown_types": previous.details.get("unknown_types", {}),
        "reconciliation": previous.reconciliation,
        "status": previous.status,
        "warnings": previous.details.get("summary_warnings", []),
    }


def record_replay(session: Session, previous: PreviousImport, trigger: str) -> list[AccountSync]:
    """New AccountSync rows (and account sync state) for an import answered from `previous`."""
    now = datetime.now(UTC)
    created = []
    for sync, account in previous.syncs:
        replay = AccountSync(
            account_id=account.id,
            status=sync.status,
            trigger=trigger,
            queued_at=now,
            started_at=now,
            finished_at=now,
            duration_ms=0,
            counts=_all_unchanged(sync.counts),
            reconciliation=sync.reconciliation,
            warnings=list(sync.warnings),
            import_key=sync.import_key,
            ledger_version_after=account.ledger_version,
            details={**sync.details, "replay_of_sync": sync.id},
        )
        session.add(replay)
        account.sync_status = sync.status
        account.last_sync_at = now
        if sync.status == SyncStatus.SUCCESS.value:
            account.last_successful_sync = now
        created.append(replay)
    session.flush()
    return created
