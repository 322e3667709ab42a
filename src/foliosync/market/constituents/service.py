"""Refresh index constituents: FMP first, Wikipedia as the fallback (marketdata.md A.2, C).

For each index the providers are asked in order; the first list that passes validation (C.5 bands)
is applied to index_constituents, cached for 24 h and recorded in index_refreshes with the provider
that answered and whether a fallback was needed. A failed, empty or implausible answer from every
provider changes nothing: no member is deactivated, the last good list stays, and the refresh row
records the errors. The caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.config import Settings
from foliosync.kv import KeyValueStore, store_for
from foliosync.market.constituents import cache
from foliosync.market.constituents.membership import active_members, apply_membership
from foliosync.market.constituents.validation import implausibility
from foliosync.market.errors import ProviderError
from foliosync.market.indices import IndexName
from foliosync.market.providers.base import Constituent, ConstituentList, ConstituentsProvider
from foliosync.models import IndexRefresh

log = logging.getLogger(__name__)

# A scheduled daily refresh finds a cache entry younger than this and skips the providers.
DEFAULT_MAX_CACHE_AGE = timedelta(hours=23)


@dataclass
class RefreshOutcome:
    index: IndexName
    provider: str | None = None
    fallback_used: bool = False
    applied: bool = False
    from_cache: bool = False
    member_count: int = 0
    added: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def default_constituent_providers(settings: Settings) -> list[ConstituentsProvider]:
    """FMP (stable API) then Wikipedia. Without FMP_API_KEY the FMP step fails as "not configured",
    which the refresh records, and Wikipedia answers as the fallback. Polygon has no constituents
    endpoint (marketdata.md B), so it is not in this chain."""
    from foliosync.market.providers.fmp import FmpClient
    from foliosync.market.providers.wikipedia import WikipediaClient

    key = settings.fmp_api_key.get_secret_value() if settings.fmp_api_key else None
    return [FmpClient(settings.fmp_api_url, key), WikipediaClient(settings.wikipedia_url)]


def _first_plausible(
    index: IndexName, providers: Sequence[ConstituentsProvider], errors: list[str]
) -> tuple[int, ConstituentList] | None:
    for position, provider in enumerate(providers):
        try:
            result = provider.fetch_constituents(index)
        except ProviderError as exc:
            errors.append(exc.message)
            continue
        problem = implausibility(result)
        if problem is not None:
            errors.append(f"{provider.name}: {problem}")
            log.warning("%s constituents from %s rejected: %s", index.value, provider.name, problem)
            continue
        return position, result
    return None


def refresh_index(
    session: Session,
    index: IndexName,
    providers: Sequence[ConstituentsProvider],
    store: KeyValueStore,
    *,
    now: datetime,
    force: bool = False,
    max_cache_age: timedelta = DEFAULT_MAX_CACHE_AGE,
) -> RefreshOutcome:
    if not force:
        cached = cache.read(store, index)
        if cached is not None and now - cached.fetched_at < max_cache_age:
            outcome = RefreshOutcome(index, cached.source, from_cache=True, member_count=len(cached.members))
            # The cache spares the vendors, not the ledger: if this database does not hold the cached
            # list (another database, or a refresh whose transaction rolled back), apply it here.
            if {m.symbol for m in active_members(session, index)} != {m.symbol for m in cached.members}:
                listed = ConstituentList(index, cached.source, tuple(cached.members))
                change = apply_membership(session, listed, now)
                outcome.applied = True
                outcome.added, outcome.reactivated, outcome.removed = (
                    change.added,
                    change.reactivated,
                    change.removed,
                )
                session.add(
                    IndexRefresh(
                        index_name=index.value,
                        fetched_at=cached.fetched_at,
                        provider=cached.source,
                        member_count=outcome.member_count,
                        applied=True,
                        added=len(change.added) + len(change.reactivated),
                        removed=len(change.removed),
                    )
                )
                session.flush()
            return outcome
    outcome = RefreshOutcome(index)
    found = _first_plausible(index, providers, outcome.errors)
    if found is None:
        outcome.fallback_used = len(providers) > 1
        log.warning("%s constituents: no provider gave a usable list; membership unchanged", index.value)
    else:
        position, result = found
        change = apply_membership(session, result, now)
        cache.write(store, result, now)
        outcome.provider = result.provider
        outcome.fallback_used = position > 0
        outcome.applied = True
        outcome.member_count = len(result.members)
        outcome.added, outcome.reactivated, outcome.removed = change.added, change.reactivated, change.removed
    session.add(
        IndexRefresh(
            index_name=index.value,
            fetched_at=now,
            provider=outcome.provider,
            fallback_used=outcome.fallback_used,
            member_count=outcome.member_count,
            applied=outcome.applied,
            added=len(outcome.added) + len(outcome.reactivated),
            removed=len(outcome.removed),
            error="; ".join(outcome.errors) or None,
        )
    )
    session.flush()
    return outcome


def refresh_constituents(
    session: Session,
    settings: Settings,
    indices: Iterable[IndexName] | None = None,
    *,
    providers: Sequence[ConstituentsProvider] | None = None,
    store: KeyValueStore | None = None,
    now: datetime | None = None,
    force: bool = False,
) -> list[RefreshOutcome]:
    """Refresh each index (default: all three). Plain function for the CLI and a Celery task."""
    providers = providers if providers is not None else default_constituent_providers(settings)
    store = store if store is not None else store_for(settings.redis_url)
    now = now or datetime.now(UTC)
    return [
        refresh_index(session, index, providers, store, now=now, force=force)
        for index in (indices or list(IndexName))
    ]


@dataclass(frozen=True)
class ConstituentsView:
    index: IndexName
    source: str | None
    fetched_at: datetime | None
    members: list[Constituent]
    from_cache: bool


def current_constituents(session: Session, store: KeyValueStore, index: IndexName) -> ConstituentsView:
    """The active list: from the cache when warm, else from the database (Redis down included)."""
    cached = cache.read(store, index)
    if cached is not None:
        return ConstituentsView(index, cached.source, cached.fetched_at, list(cached.members), True)
    rows = active_members(session, index)
    last = session.scalars(
        select(IndexRefresh)
        .where(IndexRefresh.index_name == index.value, IndexRefresh.applied.is_(True))
        .order_by(IndexRefresh.fetched_at.desc(), IndexRefresh.id.desc())
        .limit(1)
    ).first()
    members = [Constituent(r.symbol, r.name, r.sector) for r in rows]
    return ConstituentsView(
        index, last.provider if last else None, last.fetched_at if last else None, members, False
    )
