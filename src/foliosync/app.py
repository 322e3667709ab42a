"""The FastAPI application: `create_app(settings)` wires routers, error handlers and lifespan."""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from foliosync import __version__
from foliosync.api.hot_reads import AccessProbe
from foliosync.api.hot_routes import HotRoutes, foliosync_error_response
from foliosync.config import Settings, get_settings
from foliosync.db.migrate import upgrade
from foliosync.db.session import build_engine, session_factory
from foliosync.errors import FoliosyncError
from foliosync.logging_filters import install_access_log_filter

log = logging.getLogger(__name__)

# Routers are discovered by module so each domain owns its file; a domain not built yet is skipped.
# Routes are matched in this order, router by router: the hottest read (portfolio) goes first.
ROUTER_MODULES = (
    "foliosync.api.portfolio",
    "foliosync.api.auth",
    "foliosync.api.accounts",
    "foliosync.api.ledger",
    "foliosync.api.aggregator",
    "foliosync.api.tastytrade",
    "foliosync.api.schwab",
    "foliosync.api.live",
    "foliosync.api.market",
    "foliosync.web.pages",
)


def _stop_live(app: FastAPI) -> None:
    """Close the TWS / IB Gateway connection if a request opened one."""
    try:
        from foliosync.brokers.ibkr.live import stop_live_connection
    except ModuleNotFoundError:
        return
    stop_live_connection(app)


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or get_settings()
    settings.check_production()
    install_access_log_filter()
    engine = build_engine(settings.database_url)
    if run_migrations:
        upgrade(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from foliosync.sync.runner import start_background, stop_background

        # Sync endpoints run on anyio's thread pool (40 threads by default). Under load, 40 threads
        # fighting for the GIL serve requests out of order and stretch the tail latency; a handful
        # keeps the database busy and the queue close to first-come, first-served.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads

        start_background(app)
        await app.state.access_probe.open()
        # Everything imported and built so far lives as long as the process: moving it out of the
        # collector's generations keeps full collections (pauses in the latency tail) short.
        gc.freeze()
        try:
            yield
        finally:
            stop_background(app)
            _stop_live(app)
            await app.state.access_probe.close()
            engine.dispose()

    app = FastAPI(
        title="foliosync",
        version=__version__,
        description="One correct, private, always-current ledger of every brokerage account you hold.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    app.state.access_probe = AccessProbe(engine)

    @app.exception_handler(FoliosyncError)
    async def _foliosync_error(_request: Request, exc: FoliosyncError) -> JSONResponse:
        return foliosync_error_response(exc)

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for module_name in ROUTER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("foliosync."):
                continue
            raise
        app.include_router(module.router)
    from foliosync.api.portfolio import positions

    app.add_middleware(HotRoutes, routes={"/api/v1/portfolio/positions": positions})
    return app
