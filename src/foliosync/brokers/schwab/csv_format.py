"""The "schwab-csv" import format: Schwab's Transactions (History page) or Positions CSV export,
told apart by the header.

The file names no account (shared taxonomy.md §2.2), so records use UNSPECIFIED_ACCOUNT and the
import asks which account they belong to. Parsing lives in `csv_parser`.
"""

from __future__ import annotations

from foliosync.brokers.schwab.csv_parser import (
    POSITIONS_REQUIRED,
    REQUIRED,
    parse_positions,
    parse_transactions,
)
from foliosync.errors import ImportFileError
from foliosync.importers import FileFormat, register_format
from foliosync.ledger.csvtools import decode, find_header, read_rows
from foliosync.ledger.records import Batch
from foliosync.ledger.taxonomy import Broker

FORMAT_NAME = "schwab-csv"
WHAT = "Schwab transactions or positions CSV export"


def parse(content: bytes, filename: str) -> Batch:
    rows = read_rows(decode(content, filename), filename)
    try:
        header, start = find_header(rows, REQUIRED, filename, what=WHAT, max_lead_rows=5)
    except ImportFileError:
        header, start = find_header(rows, POSITIONS_REQUIRED, filename, what=WHAT, max_lead_rows=5)
        return parse_positions(rows, header, start, filename)
    return parse_transactions(rows, header, start, filename)


FORMAT = FileFormat(
    name=FORMAT_NAME,
    broker=Broker.SCHWAB,
    description="Schwab CSV exports: Transactions (Accounts > History) or Positions.",
    parse=parse,
    names_accounts=False,
)
register_format(FORMAT)
