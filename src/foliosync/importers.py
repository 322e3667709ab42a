"""Registry of file formats a user can import (`foliosync import FORMAT FILE...`, the upload API).

Each broker package registers its formats here. A format's `parse` turns file bytes into a `Batch`
or raises `ImportFileError` naming the file and line; it never touches the database. The raw file
is archived under the format's name, so `foliosync rebuild` can re-parse it with the same function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from foliosync.errors import NotFoundError
from foliosync.ledger.records import Batch, InstrumentRef
from foliosync.ledger.taxonomy import Broker

# Records from files that carry no account number use this placeholder; the import maps it to the
# account the user chose.
UNSPECIFIED_ACCOUNT = ""

FORMAT_MODULES = (
    "foliosync.brokers.ibkr.flex_format",
    "foliosync.brokers.schwab.csv_format",
    "foliosync.brokers.fidelity.csv_format",
    "foliosync.brokers.robinhood.csv_format",
)


@dataclass
class StreamedBatch(Batch):
    """An early part of a streamed file (see `FileFormat.parse_stream`): records that nothing later
    in the file can change, written while the rest is still being read. Only appended families
    (trades, cash, lots, transfers, events); never snapshots, which replace what they do not list.
    `instruments` are refs to store or fill in even if no record here names them (an instrument
    that a later SecuritiesInfo row enriched after its trades were written)."""

    instruments: list[InstrumentRef] = field(default_factory=list)


@dataclass(frozen=True)
class FileFormat:
    name: str  # e.g. "ibkr-flex", "fidelity", "robinhood", "schwab-csv"
    broker: Broker
    description: str
    parse: Callable[[bytes, str], Batch]  # (content, filename) -> Batch
    # True when the file itself names its accounts (Flex statements); else the user picks one.
    names_accounts: bool = False
    # Optional: read an open binary file in bounded memory. Yields any number of StreamedBatch
    # parts, then exactly one plain Batch with everything else (accounts, snapshots, held-back
    # records); raises ImportFileError like `parse` (possibly after parts were yielded: the caller
    # writes everything in one transaction and rolls it back). Archives nothing (raw_payloads empty):
    # the importer archives the file while it streams.
    parse_stream: Callable[[BinaryIO, str], Iterator[Batch]] | None = None


_FORMATS: dict[str, FileFormat] = {}


def register_format(fmt: FileFormat) -> None:
    _FORMATS[fmt.name] = fmt


def load_formats() -> dict[str, FileFormat]:
    for module in FORMAT_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("foliosync.brokers"):
                continue
            raise
    return dict(_FORMATS)


def get_format(name: str) -> FileFormat:
    formats = load_formats()
    if name not in formats:
        raise NotFoundError(
            f"Unknown import format {name!r}.", hint=f"Known formats: {', '.join(sorted(formats))}."
        )
    return formats[name]
