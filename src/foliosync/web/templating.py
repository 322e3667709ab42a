"""Jinja2 templates (autoescaped), their formatting filters, and `render()` for every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from foliosync import __version__
from foliosync.config import Settings
from foliosync.models import User
from foliosync.web import formatting
from foliosync.web.session import apply_cookies, csrf_token, take_flash

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(
    number=formatting.number,
    signed=formatting.signed,
    percent=formatting.percent,
    signed_percent=formatting.signed_percent,
    quantity=formatting.quantity,
    tone=formatting.tone,
    age=formatting.age,
    iso=formatting.iso,
    utc=formatting.utc_text,
    compact_money=formatting.compact_money,
)
templates.env.globals.update(version=__version__, DASH=formatting.DASH, is_stale=formatting.is_stale)

# Everything the pages load is first-party (no CDN, no inline script or style), so the policy can
# be strict; charts are inline SVG styled by the one stylesheet.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'self'; frame-ancestors 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

NAV = (
    ("portfolio", "/", "Portfolio"),
    ("transactions", "/transactions", "Transactions"),
    ("scanner", "/scanner", "Scanner"),
    ("settings", "/settings", "Settings"),
)


def render(
    request: Request,
    settings: Settings,
    name: str,
    context: dict[str, Any],
    *,
    user: User | None = None,
    status_code: int = 200,
    active: str = "",
) -> Response:
    """Render a page with what every page needs: the user, the CSRF token, the flash message."""
    full = {
        "user": user,
        "csrf_token": csrf_token(request, settings, user),
        "flash": take_flash(request, settings),
        "nav": NAV if user else (),
        "active": active,
        **context,
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return apply_cookies(request, response)
