"""The web UI's router (listed in foliosync.app.ROUTER_MODULES): every page, plus its two static
files. Pages are server-rendered Jinja2 and readable without JavaScript; see the modules below.

Static files are served by a route, not a mounted StaticFiles app, because an APIRouter's mounts
are dropped by `include_router`; there are exactly two files, both whitelisted by name.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from foliosync.errors import NotFoundError
from foliosync.web import auth_pages, market_pages, portfolio_pages, settings_pages
from foliosync.web.templating import STATIC_DIR

STATIC_FILES = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}

router = APIRouter(include_in_schema=False)
for _module in (auth_pages, portfolio_pages, settings_pages, market_pages):
    router.include_router(_module.router)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFoundError("No such file.")
    response = FileResponse(STATIC_DIR / name, media_type=media_type)
    # Pages link `/static/app.css?v=<version>`, so a new release is fetched at once.
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
