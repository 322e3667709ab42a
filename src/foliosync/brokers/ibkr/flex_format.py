"""The `ibkr-flex` import format: a Flex Query XML statement downloaded from Client Portal."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import BinaryIO

from foliosync.brokers.ibkr.flex_parser import FlexRow, iter_flex_events
from foliosync.brokers.ibkr.flex_prescan import prescan
from foliosync.brokers.ibkr.normalizer import FlexNormalizer, parse_flex
from foliosync.importers import FileFormat, StreamedBatch, register_format
from foliosync.ledger.records import Batch, RawPayloadRef
from foliosync.ledger.taxonomy import Broker, SourceFormat

FORMAT_NAME = "ibkr-flex"
# Trades per early part of a streamed import: large enough that each write is an efficient bulk
# upsert, small enough that memory stays flat (~2.5 KB per normalized trade). 5,000 imported the
# 100k-trade benchmark statement ~10 % faster but peaked at 153 MB instead of 148 MB (issue 3 asks
# for at most 150; docs/benchmarks/flex.md).
STREAM_CHUNK_TRADES = 2_500


def parse_flex_file(content: bytes, filename: str) -> Batch:
    """Parse a Flex XML file; the file itself is archived with the batch for `foliosync rebuild`."""
    batch = parse_flex(content, filename)
    batch.raw_payloads.append(RawPayloadRef(kind=FORMAT_NAME, content=content, source_name=filename))
    return batch


def stream_flex_file(
    source: BinaryIO, filename: str, *, chunk_trades: int = STREAM_CHUNK_TRADES
) -> Iterator[Batch]:
    """Read a Flex file from an open binary file, yielding settled trades every `chunk_trades`
    (FileFormat.parse_stream). A file that cannot be planned (not a regular file) is read whole."""
    plan = prescan(source)
    if plan is None:
        yield parse_flex(source, filename)
        return
    normalizer = FlexNormalizer(filename)
    normalizer.ctx.linked_trade_ids = plan.linked_trade_ids
    next_drain = chunk_trades
    # The cyclic GC is paused while rows are read (normalizer.cyclic_gc_paused) but not while the
    # caller writes a part: the ORM and driver make cyclic garbage that must not pile up.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for event in iter_flex_events(source, filename):
            normalizer.feed(event)
            if type(event) is FlexRow and len(normalizer.ctx.batch.trades) >= next_drain:
                drained = normalizer.drain_settled_trades(plan)
                next_drain = len(normalizer.ctx.batch.trades) + chunk_trades
                if drained:
                    if gc_was_enabled:
                        gc.enable()
                    yield StreamedBatch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML, trades=drained)
                    del drained
                    gc.disable()
        final = normalizer.finish()
    finally:
        if gc_was_enabled:
            gc.enable()
    enriched = normalizer.drained_instruments()
    if enriched:
        yield StreamedBatch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML, instruments=enriched)
    yield final


register_format(
    FileFormat(
        name=FORMAT_NAME,
        broker=Broker.IBKR,
        description="Interactive Brokers Flex Query statement (XML; one or many accounts)",
        parse=parse_flex_file,
        names_accounts=True,
        parse_stream=stream_flex_file,
    )
)
