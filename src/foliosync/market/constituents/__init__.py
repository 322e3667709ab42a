"""Index constituents: validate, cache for 24 h, keep membership history, record every refresh."""
