"""Instrument identity from Flex rows, and its enrichment from SecuritiesInfo.

Every Flex row carries the security identity columns (ibkr.md §B.4: assetCategory, symbol, conid,
isin, cusip, underlying*, multiplier, strike, expiry, putCall). The attributes are preferred to
parsing descriptions (taxonomy §5.2). Refs are cached per distinct identity, so a statement with
100k trades in 2k symbols builds 2k refs, not 100k.

SecuritiesInfo can come after the rows that use it (section order follows the query config), so
enrichment is a separate step: it only fills what a row left empty, and never changes a ref's
canonical key (the key must not depend on which sections the user selected).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from foliosync.brokers.ibkr.flex_values import attr_date, attr_decimal, clean
from foliosync.ledger.instruments import canonical_symbol
from foliosync.ledger.records import InstrumentRef
from foliosync.ledger.taxonomy import AssetCategory

# Raw assetCategory values that behave like options / futures (ibkr.md §B.3) although foliosync's
# AssetCategory has no member for them (they become OTHER but keep option/future trade kinds).
OPTION_LIKE = frozenset({"OPT", "FOP", "FSOPT", "FSFOP"})
FUTURE_LIKE = frozenset({"FUT"})

_IDENTITY = (
    "assetCategory",
    "symbol",
    "currency",
    "conid",
    "isin",
    "cusip",
    "figi",
    "underlyingSymbol",
    "underlyingConid",
    "strike",
    "expiry",
    "putCall",
    "multiplier",
    "description",
    "listingExchange",
)
# Column widths of the instruments table: longer values are not identifiers we can keep.
_ID_WIDTH = {"isin": 12, "cusip": 9, "figi": 12}


def raw_category(attrs: dict[str, str]) -> str:
    """The row's assetCategory, or a best guess when the column was not selected."""
    raw = (attrs.get("assetCategory") or "").strip().upper()
    if raw:
        return raw
    if clean(attrs.get("putCall")):
        return "OPT"
    if clean(attrs.get("expiry")) and not clean(attrs.get("strike")):
        return "FUT"
    return "STK"


def _identifier(attrs: dict[str, str], name: str) -> str | None:
    value = clean(attrs.get(name))
    if value is None or len(value) != _ID_WIDTH[name]:
        return None
    return value.upper()


def _put_call(attrs: dict[str, str]) -> str | None:
    value = clean(attrs.get("putCall"))
    if value is None:
        return None
    letter = value[0].upper()
    return letter if letter in "CP" else None


def _symbol(symbol: str, category: AssetCategory) -> str:
    # OCC option symbols keep their padding; everything else gets foliosync's one ticker spelling.
    return (symbol.upper() if category is AssetCategory.OPT else canonical_symbol(symbol))[:64]


class InstrumentBook:
    """Builds, caches and enriches the InstrumentRefs of one Flex response."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str | None, ...], InstrumentRef | None] = {}
        self._security_info: dict[str, dict[str, str]] = {}
        self._no_multiplier: set[int] = set()  # ids of refs whose row lacked a multiplier
        self._enriched: dict[int, InstrumentRef] = {}

    def from_row(self, attrs: dict[str, str], default_currency: str = "USD") -> InstrumentRef | None:
        """The instrument a row names, or None for rows about no security (fees, deposits...)."""
        ident = tuple(map(attrs.get, _IDENTITY))
        try:
            return self._cache[ident]
        except KeyError:
            pass
        ref = self._build(attrs, default_currency)
        self._cache[ident] = ref
        return ref

    def _build(self, attrs: dict[str, str], default_currency: str) -> InstrumentRef | None:
        symbol = clean(attrs.get("symbol"))
        conid = clean(attrs.get("conid"))
        if symbol is None and conid is None:
            return None
        raw = raw_category(attrs)
        category = AssetCategory.parse(raw)
        multiplier = attr_decimal(attrs, "multiplier")
        ref = InstrumentRef(
            asset_category=category,
            symbol=_symbol(symbol, category) if symbol else f"CONID{conid}",
            currency=(clean(attrs.get("currency")) or default_currency).upper()[:8],
            description=(clean(attrs.get("description")) or "")[:255] or None,
            exchange=(clean(attrs.get("listingExchange")) or "")[:32] or None,
            conid=conid[:32] if conid else None,
            isin=_identifier(attrs, "isin"),
            cusip=_identifier(attrs, "cusip"),
            figi=_identifier(attrs, "figi"),
            underlying_symbol=(clean(attrs.get("underlyingSymbol")) or "")[:64] or None,
            underlying_conid=(clean(attrs.get("underlyingConid")) or "")[:32] or None,
            strike=attr_decimal(attrs, "strike") if raw in OPTION_LIKE else None,
            expiry=attr_date(attrs, "expiry") if raw in OPTION_LIKE | FUTURE_LIKE else None,
            put_call=_put_call(attrs) if raw in OPTION_LIKE else None,
            multiplier=multiplier if multiplier is not None and multiplier > 0 else Decimal(1),
        )
        if multiplier is None or multiplier <= 0:
            self._no_multiplier.add(id(ref))
        return ref

    def lacks_multiplier(self, ref: InstrumentRef) -> bool:
        return id(ref) in self._no_multiplier

    def with_multiplier(self, ref: InstrumentRef, multiplier: Decimal) -> InstrumentRef:
        """The same instrument with a multiplier inferred elsewhere (e.g. proceeds / quantity / price)."""
        fixed = dataclasses.replace(ref, multiplier=multiplier)
        return fixed if fixed.key == ref.key else ref

    def add_security_info(self, attrs: dict[str, str]) -> None:
        conid = clean(attrs.get("conid"))
        if conid:
            self._security_info[conid] = attrs

    def enrich(self, ref: InstrumentRef) -> InstrumentRef:
        """Fill what the row left empty from SecuritiesInfo, keeping the canonical key unchanged."""
        cached = self._enriched.get(id(ref))
        if cached is not None:
            return cached
        result = ref
        info = self._security_info.get(ref.conid or "")
        if info is not None:
            extra = self.from_row(info, ref.currency)
            if extra is not None:
                changes: dict[str, object] = {
                    name: getattr(extra, name)
                    for name in (
                        "description",
                        "exchange",
                        "isin",
                        "cusip",
                        "figi",
                        "underlying_symbol",
                        "underlying_conid",
                    )
                    if getattr(ref, name) is None and getattr(extra, name) is not None
                }
                if self.lacks_multiplier(ref) and not self.lacks_multiplier(extra):
                    changes["multiplier"] = extra.multiplier
                if changes:
                    candidate = dataclasses.replace(ref, **changes)  # type: ignore[arg-type]
                    if candidate.key == ref.key:
                        result = candidate
        self._enriched[id(ref)] = result
        return result
