"""The `transferItems` legs of a Schwab activity, and the holdings replay that fills in missing
position effects.

A leg is a security leg (`amount` = signed quantity, `cost` = signed cash, `price` per unit,
maybe `positionEffect`) or a cash leg (`CURRENCY`/`CURRENCY_USD`), which is a fee when it has a
`feeType` (brokers.md §B.4). Legs are identified by role and instrument (or fee type), never by
their position in the array (taxonomy.md §2.2): two legs of one instrument in one activity are
merged into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from foliosync.brokers.schwab.parsing import dec, dec0, instrument_ref, is_currency_leg
from foliosync.ledger.records import InstrumentRef

ZERO = Decimal(0)

# taxonomy.md §3.3 "feeType on fee legs": trade components, never FEE records.
COMMISSION_FEES = frozenset({"COMMISSION", "LOW_PROCEEDS_COMMISSION"})
REGULATORY_FEES = frozenset(
    {"SEC_FEE", "TAF_FEE", "OPT_REG_FEE", "INDEX_OPTION_FEE", "FUTURES_EXCHANGE_FEE", "R_FEE", "STR_FEE"}
)


@dataclass(frozen=True)
class SecurityLeg:
    instrument: InstrumentRef
    quantity: Decimal
    cost: Decimal
    price: Decimal | None
    position_effect: str | None
    needs_review: bool


@dataclass(frozen=True)
class Fees:
    commission: Decimal = ZERO
    regulatory: Decimal = ZERO
    other: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.commission + self.regulatory + self.other


@dataclass(frozen=True)
class Legs:
    securities: list[SecurityLeg]
    fees: Fees
    cash: Decimal  # the cost of cash legs that are not fees


def split_legs(activity: Mapping[str, Any]) -> Legs:
    merged: dict[str, SecurityLeg] = {}
    commission = regulatory = other = cash = ZERO
    items = activity.get("transferItems") or []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        instrument = item.get("instrument") or {}
        if not isinstance(instrument, Mapping):
            instrument = {}
        fee_type = item.get("feeType")
        cost = dec0(item.get("cost"))
        if fee_type or is_currency_leg(instrument):
            # `cost` is the fee's signed cash effect (§B.4); `amount` is its unsigned size.
            kind = str(fee_type or "").upper()
            if not kind:
                cash += cost
            elif kind in COMMISSION_FEES:
                commission += cost
            elif kind in REGULATORY_FEES:
                regulatory += cost
            else:
                other += cost  # CDSC_FEE, ADDITIONAL_FEE, MISCELLANEOUS_FEE, GST_FEE, UNKNOWN ...
            continue
        ref, review = instrument_ref(instrument)
        leg = SecurityLeg(
            instrument=ref,
            quantity=dec0(item.get("amount")),
            cost=cost,
            price=dec(item.get("price")),
            position_effect=str(item.get("positionEffect") or "").upper() or None,
            needs_review=review,
        )
        merged[ref.key] = _merge(merged[ref.key], leg) if ref.key in merged else leg
    securities = [merged[k] for k in sorted(merged)]
    return Legs(securities, Fees(commission, regulatory, other), cash)


def _merge(a: SecurityLeg, b: SecurityLeg) -> SecurityLeg:
    """Two fills of one instrument in one activity: one leg at the quantity-weighted price."""
    quantity = a.quantity + b.quantity
    size = abs(a.quantity) + abs(b.quantity)
    price = None
    if a.price is not None and b.price is not None and size:
        price = (abs(a.quantity) * a.price + abs(b.quantity) * b.price) / size
    return SecurityLeg(
        instrument=a.instrument,
        quantity=quantity,
        cost=a.cost + b.cost,
        price=price,
        position_effect=a.position_effect if a.position_effect == b.position_effect else None,
        needs_review=a.needs_review or b.needs_review or (a.quantity > 0) != (b.quantity > 0),
    )


class Holdings:
    """Signed holdings per instrument key, replayed through the fetched activities.

    Schwab omits `positionEffect` on some legs (§B.4) and then the open/close kind depends on the
    position held at that moment (§3.3 "derive from position state"). The position before the
    first fetched activity is today's snapshot minus every fetched leg; replaying forward gives
    the holding before each activity.
    """

    def __init__(self, now: Mapping[str, Decimal], legs: Iterable[SecurityLeg]) -> None:
        self._held: dict[str, Decimal] = dict(now)
        for leg in legs:
            self._held[leg.instrument.key] = self._held.get(leg.instrument.key, ZERO) - leg.quantity

    def held(self, key: str) -> Decimal:
        return self._held.get(key, ZERO)

    def apply(self, leg: SecurityLeg) -> None:
        self._held[leg.instrument.key] = self.held(leg.instrument.key) + leg.quantity
