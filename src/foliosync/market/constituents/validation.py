"""Is a provider's list believable enough to change membership? (marketdata.md C.5)"""

from __future__ import annotations

from foliosync.market.indices import EXPECTED_SIZE
from foliosync.market.providers.base import ConstituentList


def implausibility(result: ConstituentList) -> str | None:
    """Why `result` must not be applied, or None when it may."""
    band = EXPECTED_SIZE[result.index]
    count = len(result.members)
    if count == 0:
        return "returned no members"
    if not band.accepts(count):
        return f"returned {count} members; {result.index.value} must have {band.describe()}"
    return None
