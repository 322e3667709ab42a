"""Registry of file formats a user can import (`foliosync import FORMAT FILE...`, the upload API).

Each broker package registers its formats here. A format's `parse` turns file bytes into a `Batch`
or raises `ImportFileError` naming the file and line; it never touches the database. The raw file
is archived under the format's name, so `foliosync rebuild` can re-parse it with the same function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from foliosync.errors import NotFoundError
from foliosync.ledger.records import Batch
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


@dataclass(frozen=True)
class FileFormat:
    name: str  # e.g. "ibkr-flex", "fidelity", "robinhood", "schwab-csv"
    broker: Broker
    description: str
    parse: Callable[[bytes, str], Batch]  # (content, filename) -> Batch
    # True when the file itself names its accounts (Flex statements); else the user picks one.
    names_accounts: bool = False


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
