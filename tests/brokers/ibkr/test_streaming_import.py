"""The streamed import (`import_files` with an open file, as `foliosync import` does) writes exactly
what the whole-file import writes, refuses the same bad files, and leaves nothing after a failure.

Streaming is forced into its hardest shape here: a part is handed over after every single trade
(`chunk_trades=1`), so every cancel, correction, fxRateToBase fill and account creation crosses a
part boundary. The reference is the whole-file import of the same bytes for another user.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import zlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.brokers.ibkr.flex_format import FORMAT_NAME, stream_flex_file
from foliosync.brokers.ibkr.flex_prescan import prescan
from foliosync.errors import ImportFileError
from foliosync.importers import FileFormat, get_format
from foliosync.models import (
    Balance,
    BrokerAccount,
    CashTransaction,
    CorporateAction,
    Instrument,
    OptionEvent,
    Position,
    RawPayload,
    TaxLot,
    Trade,
    Transfer,
    User,
)
from foliosync.sync.importing import ImportSummary, import_files
from tests.brokers.ibkr.conftest import FIXTURES
from tests.brokers.ibkr.flexdoc import cash, flex, row, section, statement, trade
from tests.brokers.ibkr.test_hostile_files import CASES, GOOD

LEDGER = (Trade, CashTransaction, TaxLot, Position, Balance, Transfer, OptionEvent, CorporateAction)
SKIPPED_COLUMNS = {"id", "created_at", "updated_at"}


def _streaming_format(chunk_trades: int = 1) -> FileFormat:
    return dataclasses.replace(
        get_format(FORMAT_NAME), parse_stream=functools.partial(stream_flex_file, chunk_trades=chunk_trades)
    )


def _new_user(session: Session, email: str) -> User:
    owner = User(email=email, password_hash="x")
    session.add(owner)
    session.commit()
    return owner


def _ledger(session: Session, owner: User) -> dict[str, list[tuple[Any, ...]]]:
    """Every ledger row of the user, ids replaced by what they stand for, in a stable order."""
    accounts = {
        a.id: (a.external_account_id, a.base_currency, a.alias)
        for a in session.scalars(select(BrokerAccount).where(BrokerAccount.user_id == owner.id))
    }
    instruments = {i.id: i.key for i in session.scalars(select(Instrument))}
    out: dict[str, list[tuple[Any, ...]]] = {"accounts": sorted(map(repr, accounts.values()))}  # type: ignore[dict-item]
    for model in LEDGER:
        table = model.__table__
        rows = []
        for found in session.execute(select(table).where(table.c.account_id.in_(accounts))).mappings():
            values = []
            for column, value in sorted(found.items()):
                if column in SKIPPED_COLUMNS:
                    continue
                if column == "account_id":
                    value = accounts[value][0]
                elif column == "instrument_id" and value is not None:
                    value = instruments[value]
                values.append((column, repr(value)))
            rows.append(tuple(values))
        out[table.name] = sorted(rows)
    return out


def _summary(summary: ImportSummary) -> list[dict[str, Any]]:
    """What a user sees, minus ids and the instrument counts (instruments are shared by users)."""
    return sorted(
        (
            {
                "account": a.external_account_id,
                "alias": a.alias,
                "counts": {k: v for k, v in a.counts.items() if k != "instruments"},
                "cash_totals": a.cash_totals,
                "unknown_types": a.unknown_types,
                "reconciliation": a.reconciliation,
                "status": a.status,
                "warnings": a.warnings,
            }
            for a in summary.accounts
        ),
        key=repr,
    )


def _written(summary: ImportSummary) -> int:
    return sum(
        c["inserted"] + c["updated"]
        for a in summary.accounts
        for table, c in a.counts.items()
        if table not in ("instruments", "computed_lots")
    )


def _assert_stream_matches_whole_file(session: Session, path: Path) -> None:
    content = path.read_bytes()
    whole_user = _new_user(session, "whole@example.com")
    whole = import_files(session, whole_user, get_format(FORMAT_NAME), [(path.name, content)])
    session.commit()
    stream_user = _new_user(session, "stream@example.com")
    with path.open("rb") as handle:
        streamed = import_files(session, stream_user, _streaming_format(), [(path.name, handle)])
    session.commit()

    assert _summary(streamed) == _summary(whole)
    assert streamed.warnings == whole.warnings
    assert _ledger(session, stream_user) == _ledger(session, whole_user)
    payload = session.scalars(select(RawPayload).where(RawPayload.user_id == stream_user.id)).one()
    assert zlib.decompress(payload.compressed) == content
    assert payload.size == len(content) and payload.kind == FORMAT_NAME and payload.source_name == path.name
    reference = session.scalars(select(RawPayload).where(RawPayload.user_id == whole_user.id)).one()
    assert (payload.sha256, payload.account_id is None) == (reference.sha256, reference.account_id is None)

    with path.open("rb") as handle:
        again = import_files(session, stream_user, _streaming_format(), [(path.name, handle)], reparse=True)
    session.commit()
    assert _written(again) == 0
    assert session.scalar(select(func.count()).select_from(RawPayload)) == 2


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_streamed_fixture_import_equals_the_whole_file_import(session: Session, path: Path) -> None:
    _assert_stream_matches_whole_file(session, path)


CANCEL = {"buySell": "BUY (Ca.)", "transactionType": "TradeCancel", "notes": "Ca", "tradeID": ""}
SECURITY = row("SecurityInfo", assetCategory="STK", symbol="AAPL", conid="265598", cusip="037833100")
ACCOUNT_EUR = row("AccountInformation", accountId="U1", currency="EUR", acctAlias="Main")
RATES = section(
    "ConversionRates",
    row("ConversionRate", reportDate="20250115", fromCurrency="USD", toCurrency="EUR", rate="0.95"),
)
NO_FX = {"fxRateToBase": ""}

DOCS = {
    # A cancel, and a correction by tradeID, long after the fills they void.
    "cancel-and-correction": flex(
        statement(
            "U1",
            section(
                "Trades",
                trade("100", "10", "150"),
                trade("102", "5", "151"),
                trade("103", "3", "152"),
                trade("104", "1", "153"),
                trade("101", "-10", "150", origTransactionID="100", origTradeID="T100", **CANCEL),
                trade("105", "5", "150.5", transactionType="TradeCorrect", notes="Co", origTradeID="T102"),
            ),
        )
    ),
    # fxRateToBase missing: filled from AccountInformation and ConversionRates read before the trades.
    "fx-facts-first": flex(
        statement(
            "U1",
            ACCOUNT_EUR,  # a section that is its own row (ibkr.md §B.1)
            RATES,
            section("Trades", *(trade(str(200 + i), "1", "10", **NO_FX) for i in range(4))),
        )
    ),
    # ... and after them: nothing without fxRateToBase may be written early.
    "fx-facts-last": flex(
        statement(
            "U1",
            section("Trades", *(trade(str(300 + i), "1", "10", **NO_FX) for i in range(4))),
            RATES,
            ACCOUNT_EUR,
        )
    ),
    # SecuritiesInfo after the trades enriches an instrument whose trades were already written.
    "security-info-last": flex(
        statement(
            "U1",
            section("Trades", *(trade(str(400 + i), "1", "10") for i in range(3))),
            section("SecuritiesInfo", SECURITY),
            section("CashTransactions", cash("900", "Dividends", "5", conid="265598", symbol="AAPL")),
        )
    ),
    # A cash row naming (by tradeID) a trade handed over long before it (flex_prescan keeps the link).
    "cash-linked-to-an-early-trade": flex(
        statement(
            "U1",
            section("Trades", *(trade(str(700 + i), "1", "10") for i in range(4))),
            section("CashTransactions", cash("950", "Commission Adjustments", "0.5", tradeID="T700")),
        )
    ),
    # Two accounts, the second one's facts after the first one's trades.
    "two-accounts": flex(
        statement("U1", section("Trades", *(trade(str(500 + i), "2", "10") for i in range(3)))),
        statement(
            "U2",
            row("AccountInformation", accountId="U2", currency="CHF", acctAlias="Second"),
            section(
                "Trades",
                *(trade(str(600 + i), "1", "10", accountId="U2", currency="CHF", **NO_FX) for i in range(3)),
            ),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(DOCS))
def test_streamed_import_keeps_whole_file_semantics(session: Session, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(DOCS[name])
    _assert_stream_matches_whole_file(session, path)


def test_a_cash_row_keeps_its_link_to_a_trade_written_parts_before(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "linked.xml"
    path.write_bytes(DOCS["cash-linked-to-an-early-trade"])
    owner = _new_user(session, "l@example.com")
    with path.open("rb") as handle:
        import_files(session, owner, _streaming_format(), [(path.name, handle)])
    session.commit()
    adjustment = session.scalars(select(CashTransaction)).one()
    assert adjustment.related_key == "700"
    with path.open("rb") as handle:
        linked = prescan(handle)
    assert linked is not None and linked.linked_trade_ids == frozenset({"T700"})


def test_cancelled_fills_stay_cancelled_across_parts(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "cancel.xml"
    path.write_bytes(DOCS["cancel-and-correction"])
    owner = _new_user(session, "c@example.com")
    with path.open("rb") as handle:
        import_files(session, owner, _streaming_format(), [(path.name, handle)])
    session.commit()
    status = {t.natural_key: (t.status, t.original_key) for t in session.scalars(select(Trade))}
    assert status == {
        "100": ("CANCELLED", None),
        "101": ("CANCELLED", "100"),
        "102": ("CANCELLED", None),
        "103": ("POSTED", None),
        "104": ("POSTED", None),
        "105": ("POSTED", "102"),
    }


def test_fx_rates_filled_while_streaming(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "fx.xml"
    path.write_bytes(DOCS["fx-facts-first"])
    owner = _new_user(session, "fx@example.com")
    with path.open("rb") as handle:
        import_files(session, owner, _streaming_format(), [(path.name, handle)])
    session.commit()
    rates = [t.fx_rate_to_base for t in session.scalars(select(Trade))]
    assert [str(r) for r in rates] == ["0.95"] * 4
    account = session.scalars(select(BrokerAccount)).one()
    assert (account.base_currency, account.alias) == ("EUR", "Main")


def test_bad_files_streamed_are_refused_and_nothing_is_written(session: Session, tmp_path: Path) -> None:
    owner = _new_user(session, "bad@example.com")
    for case, (content, message) in sorted(CASES.items()):
        bad = tmp_path / f"{case}.xml"
        bad.write_bytes(content)
        good = tmp_path / "good.xml"
        good.write_bytes(GOOD)
        with good.open("rb") as first, bad.open("rb") as second:
            with pytest.raises(ImportFileError) as caught:
                import_files(session, owner, _streaming_format(), [(good.name, first), (bad.name, second)])
        session.rollback()
        assert message in str(caught.value), case
        assert caught.value.filename == f"{case}.xml"
        for model in (BrokerAccount, Trade, CashTransaction, Instrument, RawPayload):
            assert session.scalar(select(func.count()).select_from(model)) == 0, case


def test_a_file_that_breaks_after_parts_were_written_leaves_nothing(session: Session, tmp_path: Path) -> None:
    trades = [trade(str(1000 + i), "1", "10") for i in range(40)]
    content = flex(statement("U1", section("Trades", *trades)))
    path = tmp_path / "cut.xml"
    path.write_bytes(content[: len(content) * 9 // 10])
    owner = _new_user(session, "cut@example.com")
    with path.open("rb") as handle, pytest.raises(ImportFileError, match="ends before the statement"):
        import_files(session, owner, _streaming_format(chunk_trades=5), [(path.name, handle)])
    # Parts were written inside the transaction before the end of the file showed the damage ...
    assert session.scalar(select(func.count()).select_from(Trade)) >= 5
    session.rollback()
    # ... and the caller's rollback (every caller rolls back on error) takes all of it away.
    for model in (BrokerAccount, Trade, Instrument, RawPayload):
        assert session.scalar(select(func.count()).select_from(model)) == 0


def test_a_stream_that_cannot_be_planned_is_read_whole(session: Session) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    assert prescan(Pipe(DOCS["cancel-and-correction"])) is None  # type: ignore[arg-type]
    owner = _new_user(session, "pipe@example.com")
    summary = import_files(
        session,
        owner,
        _streaming_format(),
        [("pipe.xml", Pipe(DOCS["cancel-and-correction"]))],  # type: ignore[list-item]
    )
    session.commit()
    assert summary.accounts[0].counts["trades"]["inserted"] == 6
    payload = session.scalars(select(RawPayload)).one()
    assert zlib.decompress(payload.compressed) == DOCS["cancel-and-correction"]


def test_prescan_plans_what_may_be_written_early(tmp_path: Path) -> None:
    path = tmp_path / "plan.xml"
    path.write_bytes(DOCS["cancel-and-correction"])
    with path.open("rb") as handle:
        handle.read(10)
        plan = prescan(handle)
        assert handle.tell() == 10  # rewound to where it was
    assert plan is not None
    assert plan.referenced_ids == {"100", "T100", "T102"}
    assert not plan.late_account_facts and plan.has_fx_rate_to_base

    path.write_bytes(DOCS["fx-facts-last"])
    with path.open("rb") as handle:
        plan = prescan(handle)
    assert plan is not None and plan.late_account_facts and plan.referenced_ids == frozenset()

    path.write_bytes(
        DOCS["cancel-and-correction"].replace(b'origTransactionID="100"', b'origTransactionID="&#49;00"')
    )
    with path.open("rb") as handle:
        assert prescan(handle) is None  # an id only the XML parser can read: no early writes
