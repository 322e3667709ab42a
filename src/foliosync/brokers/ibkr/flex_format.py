"""The `ibkr-flex` import format: a Flex Query XML statement downloaded from Client Portal."""

from __future__ import annotations

from foliosync.brokers.ibkr.normalizer import parse_flex
from foliosync.importers import FileFormat, register_format
from foliosync.ledger.records import Batch, RawPayloadRef
from foliosync.ledger.taxonomy import Broker

FORMAT_NAME = "ibkr-flex"


def parse_flex_file(content: bytes, filename: str) -> Batch:
    """Parse a Flex XML file; the file itself is archived with the batch for `foliosync rebuild`."""
    batch = parse_flex(content, filename)
    batch.raw_payloads.append(RawPayloadRef(kind=FORMAT_NAME, content=content, source_name=filename))
    return batch


register_format(
    FileFormat(
        name=FORMAT_NAME,
        broker=Broker.IBKR,
        description="Interactive Brokers Flex Query statement (XML; one or many accounts)",
        parse=parse_flex_file,
        names_accounts=True,
    )
)
