"""One module per vendor. Each exposes pure `build_*` (query) and `parse_*` (transform) functions
and a small client class whose methods do the HTTP exchange (extract) between them."""
