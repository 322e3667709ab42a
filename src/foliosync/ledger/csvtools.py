"""Shared helpers for brokers' CSV exports (Fidelity, Robinhood, Schwab): decoding, finding the
header among lead rows, stopping at disclaimer footers, and reading money, quantities and dates.

Every problem becomes an `ImportFileError` naming the file and the physical line, so the user can
open the file and see what is wrong. Value rules follow shared taxonomy.md §0: strip `$`, `,`, `+`
and `%`; `(1.00)` is -1.00; `--`, `-`, `N/A`, `n/a` and the empty string are null.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from foliosync.errors import ImportFileError
from foliosync.ledger.instruments import canonical_symbol
from foliosync.ledger.records import CashRecord, InstrumentRef, OptionEventRecord, TradeRecord
from foliosync.ledger.taxonomy import AssetCategory, CashKind, OptionEventKind, TradeKind

NULLS = frozenset({"", "--", "-", "N/A", "n/a", "NA", "na"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SPACES = re.compile(r"\s+")
_HEADER_SUFFIX = re.compile(r"\s*\(\$\)\s*$")
_CUSIP = re.compile(r"^(?=.*\d)[0-9A-Z]{8}\d$")
# NASDAQ convention: five-letter symbols ending in X are mutual funds (money-market funds too).
_MUTUAL_FUND = re.compile(r"^[A-Z]{4}X$")

BINARY_HINT = "Export the file again from the broker's website as CSV and upload that file."


def decode(content: bytes, filename: str) -> str:
    """Bytes to text: UTF-8 (BOM dropped), else Windows-1252, which some exports still use.

    Control characters other than tab and line breaks mean the file is not a text export
    (a spreadsheet, a PDF, a zip): refuse it at the line where they start.
    """
    if not content.strip():
        raise ImportFileError("the file is empty.", filename=filename, line=1, hint=BINARY_HINT)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    match = _CONTROL.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        raise ImportFileError(
            "this is a binary file, not a CSV export.", filename=filename, line=line, hint=BINARY_HINT
        )
    return text


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int  # physical line number where the record starts (1-based)
    cells: tuple[str, ...]

    @property
    def blank(self) -> bool:
        return all(not c.strip() for c in self.cells)

    def first(self) -> str:
        return self.cells[0].strip() if self.cells else ""


def read_rows(text: str, filename: str) -> list[CsvRow]:
    """Parse CSV text into rows that remember their starting line; quoted fields may span lines.

    Strict parsing, so an unterminated quote (a truncated file) is an error at its line.
    """
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, strict=True)
    rows: list[CsvRow] = []
    start = 1
    try:
        for cells in reader:
            rows.append(CsvRow(line=start, cells=tuple(cells)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFileError(
            f"the CSV is malformed ({exc}); the file may be cut short or edited.",
            filename=filename,
            line=start,
            hint="Download the export again and upload the untouched file.",
        ) from None
    return rows


@functools.lru_cache(maxsize=1024)
def normalize_header(name: str) -> str:
    """`Price ($)` -> `price`, `  Security  Type ` -> `security type`: headers matched by name."""
    cleaned = _HEADER_SUFFIX.sub("", name.replace("\ufeff", ""))
    return _SPACES.sub(" ", cleaned).strip().lower()


@dataclass(frozen=True)
class Header:
    line: int
    index: dict[str, int]  # normalized name -> column
    names: tuple[str, ...]  # normalized names in file order

    def has(self, name: str) -> bool:
        return name in self.index


def find_header(
    rows: Sequence[CsvRow],
    required: Iterable[str],
    filename: str,
    *,
    what: str,
    max_lead_rows: int = 30,
) -> tuple[Header, int]:
    """The first row (within the lead rows) holding every required column; returns it and the
    position of the first row after it. A file from another broker fails here, at line 1."""
    wanted = {normalize_header(r) for r in required}
    for pos, row in enumerate(rows[:max_lead_rows]):
        names = tuple(normalize_header(c) for c in row.cells)
        if wanted <= set(names):
            index: dict[str, int] = {}
            for col, name in enumerate(names):
                if name:
                    index.setdefault(name, col)
            return Header(line=row.line, index=index, names=names), pos + 1
    raise ImportFileError(
        f"this is not a {what}: no header row with the columns {', '.join(sorted(wanted))}.",
        filename=filename,
        line=rows[0].line if rows else 1,
        hint=f"Check that the file is a {what} and that you chose the right import format.",
    )


class Row:
    """One data row read through its header, by column name, never by position."""

    def __init__(self, header: Header, row: CsvRow, filename: str) -> None:
        self.header = header
        self.line = row.line
        self.cells = row.cells
        self.filename = filename

    def error(self, message: str, hint: str | None = None) -> ImportFileError:
        return ImportFileError(message, filename=self.filename, line=self.line, hint=hint)

    def check_width(self, required: Iterable[str]) -> None:
        """A row too short to reach a required column is a truncated row."""
        needed = max(self.header.index[normalize_header(name)] for name in required) + 1
        if len(self.cells) < needed:
            raise self.error(
                f"the row has {len(self.cells)} fields but the header has {len(self.header.names)}; "
                "the file looks cut short.",
                hint="Download the export again and upload the complete file.",
            )

    def text(self, *names: str) -> str:
        """The stripped text of the first of `names` the header has ('' when absent or null)."""
        for name in names:
            col = self.header.index.get(normalize_header(name))
            if col is not None:
                value = self.cells[col].strip() if col < len(self.cells) else ""
                return "" if value in NULLS else value
        return ""

    def decimal(self, *names: str) -> Decimal | None:
        raw = self.text(*names)
        return parse_decimal(raw, filename=self.filename, line=self.line, column=names[0])

    def date(self, *names: str, formats: Sequence[str] = ("%m/%d/%Y",)) -> date | None:
        raw = self.text(*names)
        if not raw:
            return None
        return parse_date(raw, formats, filename=self.filename, line=self.line, column=names[0])


def parse_decimal(raw: str, *, filename: str, line: int, column: str) -> Decimal | None:
    """`$1,259.59` / `-$694.48` / `$-694.48` / `+$11,945.20` / `(44,000.00)` / `31.10%` -> Decimal.

    Percentages keep their percent units (`31.10%` -> 31.10). Null spellings give None.
    """
    text = raw.strip()
    if text in NULLS:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    cleaned = text.replace("$", "").replace(",", "").replace("%", "").replace(" ", "")
    if cleaned.startswith("+"):
        cleaned = cleaned[1:]
    if cleaned.startswith("-"):
        negative, cleaned = not negative, cleaned[1:]
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ImportFileError(
            f"column {column!r}: {raw!r} is not a number.",
            filename=filename,
            line=line,
            hint="The file may have been edited or cut short; download the export again.",
        ) from None
    if not value.is_finite():
        raise ImportFileError(f"column {column!r}: {raw!r} is not a number.", filename=filename, line=line)
    return -value if negative else value


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _strict_date(text: str, fmt: str) -> date | None:
    """One format; `%m/%d/%Y` (every US export) takes a regex fast path, strptime is slow."""
    if fmt == "%m/%d/%Y":
        match = _US_DATE.match(text)
        if not match:
            return None
        try:
            return date(int(match[3]), int(match[1]), int(match[2]))
        except ValueError:
            return None
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def try_date(raw: str, formats: Sequence[str]) -> date | None:
    text = raw.strip()
    for fmt in formats:
        found = _strict_date(text, fmt)
        if found is not None:
            return found
    return None


def parse_date(raw: str, formats: Sequence[str], *, filename: str, line: int, column: str) -> date:
    found = try_date(raw, formats)
    if found is not None:
        return found
    raise ImportFileError(
        f"column {column!r}: {raw!r} is not a date.",
        filename=filename,
        line=line,
        hint="The file may have been edited or cut short; download the export again.",
    )


def data_rows(
    rows: Sequence[CsvRow],
    start: int,
    is_data: Callable[[CsvRow], bool],
    filename: str,
    *,
    is_footer: Callable[[CsvRow], bool] | None = None,
) -> Iterator[CsvRow]:
    """Rows after the header up to the footer.

    Blank rows are skipped. After a blank row, the first row that is not data starts the
    disclaimer footer and ends the data; a non-data row with no blank row before it is an error
    (the file was edited or cut), unless `is_footer` says it is a known footer row.
    """
    after_blank = False
    for row in rows[start:]:
        if row.blank:
            after_blank = True
            continue
        if is_data(row):
            yield row
            continue
        if after_blank or (is_footer is not None and is_footer(row)):
            return
        raise ImportFileError(
            f"unexpected row {row.first()[:40]!r}: expected a transaction date in the first column.",
            filename=filename,
            line=row.line,
            hint="The file may have been edited or cut short; download the export again.",
        )


def collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def us_security(symbol: str, description: str | None = None, *, cusip: str | None = None) -> InstrumentRef:
    """A US stock, ETF or mutual fund from a ticker (or a bare CUSIP, as Schwab writes old legs of
    corporate actions). Five-letter tickers ending in X are mutual funds (NASDAQ convention)."""
    cleaned = canonical_symbol(symbol)
    if _CUSIP.match(cleaned) and cusip is None:
        cusip = cleaned
    category = AssetCategory.FUND if _MUTUAL_FUND.match(cleaned) else AssetCategory.STK
    return InstrumentRef(
        asset_category=category,
        symbol=cleaned,
        currency="USD",
        description=description or None,
        cusip=cusip,
    )


@dataclass(frozen=True, slots=True)
class TradeCash:
    gross: Decimal
    net: Decimal
    consistent: bool  # False when the broker's amount disagrees with quantity x price beyond rounding


def trade_cash(
    quantity: Decimal, price: Decimal, multiplier: Decimal, net: Decimal | None, fees: Decimal
) -> TradeCash:
    """Gross and net cash of a fill from a file row.

    The broker's `Amount` is the cash that really moved, so it is the net amount and the gross is
    derived (net - fees), keeping net = gross + fees exact. Exports round the displayed price, so
    quantity x price may differ from the gross by half a cent per unit plus a cent; a larger difference
    is reported as inconsistent (the caller flags the row for review). Without an amount, the
    gross is -quantity x price x multiplier.
    """
    computed = -quantity * price * multiplier
    if net is None:
        return TradeCash(gross=computed, net=computed + fees, consistent=True)
    gross = net - fees
    tolerance = Decimal("0.01") + abs(quantity) * multiplier * Decimal("0.005")
    return TradeCash(gross=gross, net=net, consistent=abs(gross - computed) <= tolerance)


# The closing trade of an option exercise, assignment or expiration -> the option event it records.
OPTION_EVENT_KINDS = {
    TradeKind.OPTION_ASSIGNMENT: OptionEventKind.ASSIGNMENT,
    TradeKind.OPTION_EXERCISE: OptionEventKind.EXERCISE,
    TradeKind.OPTION_EXPIRATION: OptionEventKind.EXPIRATION,
}


def option_close(
    *,
    account: str,
    instrument: InstrumentRef,
    kind: TradeKind,
    day: date,
    quantity: Decimal,
    amount: Decimal | None,
    trade_key: str,
    event_key: str,
    needs_review: bool,
    raw_type: str | None,
    description: str | None,
    settle_date: date | None = None,
) -> tuple[TradeRecord, OptionEventRecord]:
    """An exercise, assignment or expiration row of a broker export: the zero-price trade that closes
    the option position (signed `quantity`), and the option event that links to it. `kind` is one of
    OPTION_EVENT_KINDS; `event_key` is the event's natural key (its kind is OPTION_EVENT_KINDS[kind])."""
    cash = amount or Decimal(0)
    trade = TradeRecord(
        account=account,
        natural_key=trade_key,
        instrument=instrument,
        kind=kind,
        side="BUY" if quantity > 0 else "SELL",
        trade_date=day,
        quantity=quantity,
        price=Decimal(0),
        gross_amount=cash,
        net_amount=cash,
        currency="USD",
        settle_date=settle_date,
        open_close="C",
        needs_review=needs_review,
        raw_type=raw_type,
        description=description,
    )
    event = OptionEventRecord(
        account=account,
        natural_key=event_key,
        instrument=instrument,
        kind=OPTION_EVENT_KINDS[kind],
        event_date=day,
        quantity=quantity,
        underlying_symbol=instrument.underlying_symbol,
        option_trade_key=trade_key,
        needs_review=needs_review,
        raw_type=raw_type,
        description=description,
    )
    return trade, event


def link_reinvestments(
    cash: Sequence[CashRecord], trades: Sequence[TradeRecord], window_days: int = 3
) -> None:
    """Reinvested dividend or capital gain <-> its reinvestment buy (taxonomy §4.5): same account
    and instrument, within +-3 days, buy cash = -income. Linked (`related_key`) only when exactly
    one buy fits; otherwise left alone."""
    buys = [t for t in trades if t.dividend_reinvestment]
    income = (CashKind.DIVIDEND, CashKind.CAPITAL_GAIN_DISTRIBUTION)
    for record in cash:
        if record.kind not in income or record.instrument is None or record.related_key:
            continue
        matches = [
            t
            for t in buys
            if t.account == record.account
            and t.instrument.key == record.instrument.key
            and abs((t.trade_date - record.posted_date).days) <= window_days
            and t.net_amount == -record.amount
        ]
        if len(matches) == 1:
            record.related_key = matches[0].natural_key
