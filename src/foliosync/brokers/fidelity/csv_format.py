"""The "fidelity" import format: positions or activity, told apart by the header.

Registered with `names_accounts=True` because positions exports (and all-accounts history exports)
carry account numbers; a single-account history names none, so its records use
UNSPECIFIED_ACCOUNT and the import asks for the target account.
"""

from __future__ import annotations

from foliosync.brokers.fidelity.activity import REQUIRED as ACTIVITY_COLUMNS
from foliosync.brokers.fidelity.activity import parse_activity
from foliosync.brokers.fidelity.positions import REQUIRED as POSITION_COLUMNS
from foliosync.brokers.fidelity.positions import parse_positions
from foliosync.errors import ImportFileError
from foliosync.importers import FileFormat, register_format
from foliosync.ledger.csvtools import decode, find_header, read_rows
from foliosync.ledger.records import Batch
from foliosync.ledger.taxonomy import Broker

FORMAT_NAME = "fidelity"
WHAT = "Fidelity activity/history or positions CSV export"


def parse(content: bytes, filename: str) -> Batch:
    rows = read_rows(decode(content, filename), filename)
    try:
        header, start = find_header(rows, ACTIVITY_COLUMNS, filename, what=WHAT)
    except ImportFileError:
        header, start = find_header(rows, POSITION_COLUMNS, filename, what=WHAT)
        return parse_positions(rows, header, start, filename)
    return parse_activity(rows, header, start, filename)


FORMAT = FileFormat(
    name=FORMAT_NAME,
    broker=Broker.FIDELITY,
    description="Fidelity CSV exports: Activity & Orders history, or Portfolio Positions.",
    parse=parse,
    names_accounts=True,
)
register_format(FORMAT)
