"""Streaming Flex XML reader: bytes in, raw rows out, in constant memory.

Built on `xml.parsers.expat` directly: the document is fed in chunks and each row is handed on as
soon as its element starts, so no tree of the whole statement is ever built (a year of trades can
be hundreds of megabytes, shared ibkr.md §B.4 ConversionRate note).

Hostile input is refused before anything is read: a document type declaration, an entity
declaration or an external entity reference raises `ImportFileError`. That stops XXE (external
entities reading local files or URLs) and entity-expansion bombs ("billion laughs"), which both
need a DTD; real Flex statements never have one.

Structure (ibkr.md §B.1): FlexQueryResponse > FlexStatements > FlexStatement (one per account, or
per day) > section > rows. Data lives in attributes only. A section element that carries
attributes itself (AccountInformation, ChangeInNAV) is its own single row. Rows nested deeper
(FxPositions > FxLots > FxLot) belong to their top-level section.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from xml.parsers import expat

from foliosync.errors import ImportFileError

ROOT = "FlexQueryResponse"
STATUS_ROOT = "FlexStatementResponse"
STATEMENT = "FlexStatement"
SECTION_DEPTH = 4  # FlexQueryResponse=1, FlexStatements=2, FlexStatement=3, section=4
CHUNK_SIZE = 1 << 20
XML_HINT = "Download the Flex query again with Format set to XML (Reports > Flex Queries)."


@dataclass(slots=True)
class StatementStart:
    account: str
    attrs: dict[str, str]
    line: int


@dataclass(slots=True)
class FlexRow:
    """One data element: `section` is its top-level section (`Trades`), `tag` its own name
    (`Trade`, `Lot`, `Order`...), `account` the account of the enclosing FlexStatement."""

    section: str
    tag: str
    attrs: dict[str, str]
    account: str
    line: int


@dataclass(slots=True)
class StatementEnd:
    account: str
    sections: frozenset[str]


@dataclass(slots=True)
class ParseNote:
    """Something the reader noticed that the import summary should mention."""

    text: str


FlexEvent = StatementStart | FlexRow | StatementEnd | ParseNote


class _Refused(Exception):
    """Raised inside an expat handler; turned into ImportFileError with the parser's position."""


@dataclass
class _State:
    depth: int = 0
    root_seen: bool = False
    in_statement: bool = False
    account: str = ""
    section: str = ""
    sections: set[str] = field(default_factory=set)
    statements: int = 0
    declared: int | None = None
    orphans: int = 0
    events: list[FlexEvent] = field(default_factory=list)


def _refuse_doctype(*_args: object) -> None:
    raise _Refused("the file declares a DTD (<!DOCTYPE>), which Flex statements never have")


def _refuse_entity(*_args: object) -> None:
    raise _Refused("the file declares XML entities, which Flex statements never have")


def _refuse_external(*_args: object) -> int:
    raise _Refused("the file references an external entity, which Flex statements never do")


def _new_parser(state: _State) -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    events = state.events

    def start(name: str, attrs: dict[str, str]) -> None:
        state.depth += 1
        depth = state.depth
        if depth >= SECTION_DEPTH and state.in_statement:
            if depth == SECTION_DEPTH:
                state.section = name
                state.sections.add(name)
                if not attrs:
                    return
            if attrs:
                events.append(FlexRow(state.section, name, attrs, state.account, parser.CurrentLineNumber))
            return
        if depth == 1:
            if name == STATUS_ROOT:
                raise _Refused(
                    "this is a Flex Web Service status reply (FlexStatementResponse), not a statement: "
                    "the statement was not ready or the request failed"
                )
            if name != ROOT:
                raise _Refused(
                    f"this is not an IBKR Flex statement: the root element is <{name}>, not <{ROOT}>"
                )
            state.root_seen = True
        elif name == STATEMENT and depth == 3:
            state.in_statement = True
            state.statements += 1
            state.account = (attrs.get("accountId") or "").strip()
            state.sections = set()
            events.append(StatementStart(state.account, attrs, parser.CurrentLineNumber))
        elif name == "FlexStatements" and depth == 2:
            count = attrs.get("count", "").strip()
            state.declared = int(count) if count.isdigit() else None
        elif attrs:
            state.orphans += 1

    def end(name: str) -> None:
        if state.depth == 3 and state.in_statement and name == STATEMENT:
            state.in_statement = False
            events.append(StatementEnd(state.account, frozenset(state.sections)))
        state.depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    return parser


def _chunks(source: bytes | BinaryIO, size: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for offset in range(0, len(view), size):
            yield bytes(view[offset : offset + size])
        return
    while chunk := source.read(size):
        yield chunk


def iter_flex_events(
    source: bytes | BinaryIO, filename: str, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[FlexEvent]:
    """Yield every statement boundary and row of a Flex XML document, in document order.

    Raises ImportFileError (naming the file and line) for anything that is not a complete,
    well-formed, DTD-free Flex statement. Memory stays proportional to `chunk_size`.
    """
    state = _State()
    parser = _new_parser(state)
    received = 0

    def fail(message: str, line: int | None, hint: str | None = XML_HINT) -> ImportFileError:
        return ImportFileError(message, filename=filename, line=line, hint=hint)

    def feed(data: bytes, final: bool) -> None:
        try:
            parser.Parse(data, final)
        except _Refused as exc:
            raise fail(str(exc), parser.CurrentLineNumber, hint=None) from None
        except expat.ExpatError as exc:
            if final and state.root_seen and state.depth > 0:
                raise fail(
                    "the file ends before the statement is complete (an interrupted download?)",
                    exc.lineno,
                ) from None
            raise fail(f"not well-formed XML ({expat.ErrorString(exc.code)})", exc.lineno) from None

    for chunk in _chunks(source, chunk_size):
        received += len(chunk)
        feed(chunk, False)
        if state.events:
            yield from state.events
            state.events.clear()
    if received == 0:
        raise fail("the file is empty", None)
    feed(b"", True)
    yield from state.events
    state.events.clear()
    if not state.root_seen:
        raise fail("no XML element found", None)
    if state.statements == 0:
        raise fail(
            "the file holds no FlexStatement, so there is nothing to import",
            None,
            hint="Check that the Flex query selects at least one account and section.",
        )
    if state.declared is not None and state.declared != state.statements:
        yield ParseNote(
            f"FlexStatements declares count={state.declared} but holds {state.statements} statements"
        )
    if state.orphans:
        yield ParseNote(f"{state.orphans} element(s) outside any FlexStatement were ignored")
