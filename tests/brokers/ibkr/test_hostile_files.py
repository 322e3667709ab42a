"""Hostile and malformed files are refused with ImportFileError, and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.errors import ImportFileError
from foliosync.models import BrokerAccount, CashTransaction, Instrument, RawPayload, Trade, User
from tests.brokers.ibkr.conftest import DATA, import_flex

GOOD = (DATA / "portfolio-performance" / "testIBFlexStatementFile26.xml").read_bytes()

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE FlexQueryResponse [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<FlexQueryResponse queryName="x" type="AF"><FlexStatements count="1">
<FlexStatement accountId="U1" fromDate="20250101" toDate="20250131">
<CashTransactions><CashTransaction accountId="U1" currency="USD" amount="1" type="Other Fees"
 description="&secret;" dateTime="20250102" transactionID="1"/></CashTransactions>
</FlexStatement></FlexStatements></FlexQueryResponse>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<FlexQueryResponse><FlexStatements count="1"><FlexStatement accountId="U1">
<CashTransactions><CashTransaction accountId="U1" description="&lol3;" amount="1" currency="USD"
 dateTime="20250102" transactionID="1"/></CashTransactions></FlexStatement></FlexStatements></FlexQueryResponse>"""

CASES = {
    "xxe": (XXE, "DTD"),
    "billion-laughs": (BILLION_LAUGHS, "DTD"),
    "truncated": (GOOD[: len(GOOD) * 2 // 3], "ends before the statement is complete"),
    "wrong-root": (b"<html><body>Login</body></html>", "root element is <html>"),
    "status-reply": (
        b"<FlexStatementResponse><Status>Warn</Status><ErrorCode>1019</ErrorCode></FlexStatementResponse>",
        "not a statement",
    ),
    "not-xml": (b"ClientAccountID,Symbol,Quantity\nU1,AAPL,10\n", "not well-formed XML"),
    "empty": (b"", "empty"),
    "no-statements": (
        b'<FlexQueryResponse><FlexStatements count="0"/></FlexQueryResponse>',
        "no FlexStatement",
    ),
    "bad-number": (
        b'<FlexQueryResponse><FlexStatements count="1"><FlexStatement accountId="U1"><CashTransactions>'
        b'<CashTransaction amount="12 USD" currency="USD" dateTime="20250102" type="Dividends"/>'
        b"</CashTransactions></FlexStatement></FlexStatements></FlexQueryResponse>",
        "attribute amount",
    ),
}


def test_bad_files_are_refused_and_nothing_is_written(session: Session, user: User) -> None:
    for case, (content, message) in sorted(CASES.items()):
        with pytest.raises(ImportFileError) as caught:
            import_flex(session, user, ("good.xml", GOOD), (f"{case}.xml", content))
        session.rollback()

        assert message in str(caught.value), case
        assert caught.value.filename == f"{case}.xml"
        for model in (BrokerAccount, Trade, CashTransaction, Instrument, RawPayload):
            assert session.scalar(select(func.count()).select_from(model)) == 0, case
        assert "root:" not in str(caught.value)  # /etc/passwd was never read into the message


def test_errors_name_the_line() -> None:
    from foliosync.brokers.ibkr.flex_format import parse_flex_file

    with pytest.raises(ImportFileError) as caught:
        parse_flex_file(CASES["bad-number"][0], "bad.xml")
    assert caught.value.line == 1
    assert "bad.xml, line 1" in str(caught.value)
