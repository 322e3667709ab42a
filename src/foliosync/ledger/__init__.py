"""The canonical ledger: record types every broker normalizes into, the taxonomy, lots, reconciliation."""
