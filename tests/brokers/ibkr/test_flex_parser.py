"""The streaming reader: structure, chunk independence, notes about odd documents."""

from __future__ import annotations

import pytest

from foliosync.brokers.ibkr.flex_parser import (
    FlexRow,
    ParseNote,
    StatementEnd,
    StatementStart,
    iter_flex_events,
)
from tests.brokers.ibkr.conftest import DATA, FIXTURES


def _shape(content: bytes, chunk_size: int) -> list[tuple[str, ...]]:
    shape: list[tuple[str, ...]] = []
    for event in iter_flex_events(content, "f.xml", chunk_size=chunk_size):
        if isinstance(event, FlexRow):
            shape.append((event.section, event.tag, event.account, str(sorted(event.attrs.items()))))
        else:
            shape.append((type(event).__name__, str(event)))
    return shape


@pytest.mark.parametrize("path", FIXTURES[:6], ids=lambda p: p.name)
def test_rows_do_not_depend_on_how_the_file_is_chunked(path) -> None:
    content = path.read_bytes()
    assert _shape(content, 7) == _shape(content, 1 << 20)


def test_nested_rows_belong_to_their_top_level_section() -> None:
    content = b"""<FlexQueryResponse><FlexStatements count="1"><FlexStatement accountId="U9">
    <AccountInformation accountId="U9" currency="EUR"/>
    <FxPositions><FxLots><FxLot currency="EUR" quantity="5"/></FxLots></FxPositions>
    <OptionEAE><OptionEAE transactionType="Expiration" symbol="X"/></OptionEAE>
    <Trades/>
    </FlexStatement></FlexStatements></FlexQueryResponse>"""
    events = list(iter_flex_events(content, "f.xml"))
    rows = [(e.section, e.tag, e.account) for e in events if isinstance(e, FlexRow)]
    assert rows == [
        ("AccountInformation", "AccountInformation", "U9"),
        ("FxPositions", "FxLot", "U9"),
        ("OptionEAE", "OptionEAE", "U9"),
    ]
    (end,) = [e for e in events if isinstance(e, StatementEnd)]
    assert end.sections == {"AccountInformation", "FxPositions", "OptionEAE", "Trades"}


def test_every_statement_of_a_response_is_read() -> None:
    content = (DATA / "portfolio-performance" / "testIBFlexStatementFile26.xml").read_bytes()
    starts = [e.account for e in iter_flex_events(content, "f.xml") if isinstance(e, StatementStart)]
    assert starts == ["U1234567", "U1234568"]


def test_odd_documents_produce_notes_not_errors() -> None:
    content = b"""<FlexQueryResponse><AccountInformation accountId="X" currency="EUR"/>
    <FlexStatements count="2"><FlexStatement accountId="U1"><Trades/></FlexStatement></FlexStatements>
    </FlexQueryResponse>"""
    notes = [e.text for e in iter_flex_events(content, "f.xml") if isinstance(e, ParseNote)]
    assert notes == [
        "FlexStatements declares count=2 but holds 1 statements",
        "1 element(s) outside any FlexStatement were ignored",
    ]


def test_reads_from_a_file_object(tmp_path) -> None:
    path = DATA / "portfolio-performance" / "testIBFlexStatementFile02.xml"
    with path.open("rb") as handle:
        from_file = [e for e in iter_flex_events(handle, "f.xml", chunk_size=1000) if isinstance(e, FlexRow)]
    from_bytes = [e for e in iter_flex_events(path.read_bytes(), "f.xml") if isinstance(e, FlexRow)]
    assert [r.attrs for r in from_file] == [r.attrs for r in from_bytes]
    assert len(from_file) == 14
