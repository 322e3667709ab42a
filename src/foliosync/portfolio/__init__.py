"""Read model over the ledger: consolidated holdings, allocation, income."""
