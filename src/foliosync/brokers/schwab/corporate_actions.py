"""Corporate actions in Schwab's `RECEIVE_AND_DELIVER` rows (taxonomy.md §3.3, §4.3).

A split arrives as a RECEIVE_AND_DELIVER activity whose description names it and whose security
legs move shares: one leg with the shares added (`amount` > 0), or a pair (new symbol +qty, old
symbol or CUSIP -qty) in one activity or in two activities of the same day. The legs are collapsed
into events (§4.3) and written in the shape the shared lot engine (`foliosync.ledger.lots`) reads:
- an event on ONE instrument (a split, a stock dividend): one record with the ratio new/old and the
  net shares added, no `action_id` (the engine scales the lots held by the ratio);
- an event moving shares between instruments (reverse split under a new CUSIP, merger, symbol
  change): one record per leg, signed quantity, all sharing `action_id` = the event's first
  activityId (the engine moves the old leg's lots to the new one, scaled);
- a spin-off: one record per received (child) leg.

Why a split can never be applied twice (the bug of the earlier implementation, which multiplied
the stored position by the ratio on every sync, prior-art-origin.md "Schwab"):
- Each record's natural key is Schwab's id for it, `<activityId>:corporate_action:<instrument>`,
  so re-running a sync, or syncing overlapping windows, upserts the same row: it is stored once.
- Nothing here adjusts a quantity. Positions are Schwab's own snapshot, already split-adjusted by
  Schwab, and are stored as reported. Lots are *derived*: the lot engine rebuilds them from the
  stored trades and the stored set of corporate actions, applying each action once to the lots
  open on its date. Re-deriving from the same set gives the same lots, however often it runs.
- The split's share legs are not trades (a +300 "trade" AND a 4:1 ratio would double the shares);
  their quantities live on the action (`quantity`, `effect.legs`) only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from foliosync.ledger.records import CorporateActionRecord, InstrumentRef
from foliosync.ledger.taxonomy import CorporateActionKind, RecordStatus

# Order matters: "REVERSE SPLIT" before "SPLIT", "STOCK DIV" before the rest.
_WORDING: tuple[tuple[re.Pattern[str], CorporateActionKind], ...] = (
    (re.compile(r"REVERSE\s*SPLIT"), CorporateActionKind.REVERSE_SPLIT),
    (re.compile(r"\bSPLIT\b"), CorporateActionKind.SPLIT),
    (re.compile(r"STOCK\s+DIV"), CorporateActionKind.STOCK_DIVIDEND),
    (re.compile(r"SPIN[\s-]*OFF"), CorporateActionKind.SPIN_OFF),
    (re.compile(r"MERGER|MERGE\b|CONVERSION"), CorporateActionKind.MERGER_STOCK),
    (re.compile(r"NAME\s+CHANGE|SYMBOL\s+CHANGE|TICKER\s+CHANGE"), CorporateActionKind.SYMBOL_CHANGE),
)
_PAIRED = frozenset(
    {CorporateActionKind.REVERSE_SPLIT, CorporateActionKind.MERGER_STOCK, CorporateActionKind.SYMBOL_CHANGE}
)
# "SPLIT 4 FOR 1", "4-FOR-1", "4:1", "1 FOR 10" (§4.3: parse the ratio from the text first).
_RATIO = re.compile(r"(\d+(?:\.\d+)?)\s*(?:-?\s*FOR\s*-?|:)\s*(\d+(?:\.\d+)?)")


_RATIO_PLACES = Decimal("1e-12")  # the ratio column's scale, so a re-sync compares equal


def _exact(value: Decimal) -> Decimal:
    return value.quantize(_RATIO_PLACES).normalize()


def corporate_action_kind(description: str) -> CorporateActionKind | None:
    text = description.upper()
    for pattern, kind in _WORDING:
        if pattern.search(text):
            return kind
    return None


def ratio_from_text(description: str) -> Decimal | None:
    match = _RATIO.search(description.upper())
    if not match:
        return None
    new, old = Decimal(match[1]), Decimal(match[2])
    return _exact(new / old) if old else None


@dataclass(frozen=True)
class ShareLeg:
    instrument: InstrumentRef
    quantity: Decimal  # signed: + received, - removed
    held_before: Decimal  # the holding just before this activity (from the position replay)


@dataclass
class ActionCandidate:
    """One activity's part of a corporate action, before pairing."""

    activity_id: int
    kind: CorporateActionKind
    effective_date: date
    description: str
    status: RecordStatus
    raw_subtype: str | None
    legs: list[ShareLeg] = field(default_factory=list)


def build_corporate_actions(account: str, candidates: list[ActionCandidate]) -> list[CorporateActionRecord]:
    """Pair the candidates of one fetch into events, then write each event as the engine reads it."""
    groups: dict[tuple[date, CorporateActionKind], list[ActionCandidate]] = defaultdict(list)
    for candidate in sorted(candidates, key=lambda c: c.activity_id):
        groups[(candidate.effective_date, candidate.kind)].append(candidate)
    records: list[CorporateActionRecord] = []
    for (_, kind), group in sorted(groups.items(), key=lambda item: item[1][0].activity_id):
        if len(group) > 1 and kind in _PAIRED and _is_one_pair(group):
            records.extend(_event_records(account, group))
        else:
            for candidate in group:
                records.extend(_event_records(account, [candidate]))
    return records


def _is_one_pair(group: list[ActionCandidate]) -> bool:
    """Two activities, one only receiving shares and one only removing them: one event."""
    if len(group) != 2:
        return False
    signs = [frozenset(leg.quantity > 0 for leg in c.legs) for c in group]
    return set(signs) == {frozenset({True}), frozenset({False})}


def _event_records(account: str, parts: list[ActionCandidate]) -> list[CorporateActionRecord]:
    first = min(parts, key=lambda c: c.activity_id)
    owned = [(part.activity_id, leg) for part in parts for leg in part.legs]
    received = [leg for _, leg in owned if leg.quantity > 0]
    removed = [leg for _, leg in owned if leg.quantity < 0]
    added = sum((leg.quantity for leg in received), Decimal(0))
    taken = -sum((leg.quantity for leg in removed), Decimal(0))
    ratio = _ratio(first.kind, first.description, received, removed, added, taken)
    effect = {
        "activity_ids": sorted(str(p.activity_id) for p in parts),
        "legs": sorted(
            ({"instrument": leg.instrument.key, "quantity": str(leg.quantity)} for _, leg in owned),
            key=lambda item: (item["instrument"], item["quantity"]),
        ),
        # Nothing was applied to positions or lots here: lots are derived from stored actions.
        "applied": "derived",
    }

    def record(
        activity_id: int, instrument: InstrumentRef, quantity: Decimal, action_id: str | None
    ) -> CorporateActionRecord:
        return CorporateActionRecord(
            account=account,
            natural_key=f"{activity_id}:corporate_action:{instrument.key}",
            kind=first.kind,
            effective_date=first.effective_date,
            instrument=instrument,
            action_id=action_id,
            ratio=ratio,
            quantity=quantity,
            currency="USD",
            effect=effect,
            status=first.status,
            # Every RECEIVE_AND_DELIVER corporate-action mapping is uncertain (§3.3 "?").
            needs_review=True,
            raw_type="RECEIVE_AND_DELIVER",
            raw_subtype=first.raw_subtype,
            description=first.description,
        )

    event_id = str(first.activity_id)
    if first.kind is CorporateActionKind.SPIN_OFF:
        return [record(aid, leg.instrument, leg.quantity, event_id) for aid, leg in owned if leg.quantity > 0]
    instruments = {leg.instrument.key for _, leg in owned}
    if len(instruments) == 1:
        return [record(first.activity_id, owned[0][1].instrument, added - taken, None)]
    return [record(aid, leg.instrument, leg.quantity, event_id) for aid, leg in owned]


def _ratio(
    kind: CorporateActionKind,
    description: str,
    received: list[ShareLeg],
    removed: list[ShareLeg],
    added: Decimal,
    taken: Decimal,
) -> Decimal | None:
    """§4.3: the text first, then new qty / old qty, then (held + added) / held."""
    from_text = ratio_from_text(description)
    if from_text is not None:
        return from_text
    if kind is CorporateActionKind.SPIN_OFF:
        return None  # a spin-off's "ratio" is the issuer's basis allocation, not in the data
    if received and removed and taken:
        return _exact(added / taken)
    if received and not removed:
        held = received[0].held_before
        if held > 0:
            return _exact((held + added) / held)
    if removed and not received:
        held = removed[0].held_before
        if held > 0:
            return _exact((held - taken) / held)
    return None
