"""Interactive Brokers: Flex Web Service client, streaming Flex XML parser, normalizer, adapter.

Flex statements are the system of record for IBKR accounts (shared ibkr.md §A-§C); the TWS live
overlay lives beside them. Reading order: `flex_client` (HTTP), `flex_parser` (XML -> raw rows),
`normalizer` (raw rows -> canonical records), `flex_format` (file import), `adapter` (sync).
"""
