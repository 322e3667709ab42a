"""The scheduled refresh that Celery beat runs: constituents, then bars for the whole universe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from foliosync.config import Settings
from foliosync.db.session import session_scope
from foliosync.market.tasks import refresh_all
from foliosync.models import DailyPrice, IndexConstituent, IndexRefresh
from tests.fakes.fmp_server import make_bars


def test_refresh_all_updates_members_then_backfills_their_bars(engine, fmp, wiki):
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        fmp_api_key=fmp.api_key,
        fmp_api_url=fmp.url,
        wikipedia_url=wiki.url,
        polygon_api_key=None,
        redis_url=None,
    )
    today = datetime.now(UTC).date()
    fmp.set_bars("BRK.B", make_bars("BRK.B", today - timedelta(days=60), 40, seed=3))
    seen: list[int] = []

    def universe(session):
        # The real universe holds every member (600+); bars for two of them keep this test quick.
        from foliosync.market.tasks import universe_symbols

        seen.append(len(universe_symbols(session)))
        return ["AAPL", "BRK.B"]

    result = refresh_all(engine, settings, chunk_size=1, universe=universe)
    with session_scope(engine) as session:
        members = session.scalar(select(func.count(func.distinct(IndexConstituent.symbol))))
        refreshes = session.scalar(select(func.count(IndexRefresh.id)))
        bars = session.scalar(select(func.count(DailyPrice.id)).where(DailyPrice.symbol == "BRK.B"))
    assert result.indices_applied == 3 and refreshes == 3
    assert seen == [members]  # the universe is read after the members were stored
    assert bars == 40 and result.bars_written == 40
    # AAPL has no bars at the fake: reported, not fatal.
    assert (result.symbols, result.failed_symbols) == (2, 1)
