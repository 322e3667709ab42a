"""Page routes answer errors with a page, not JSON.

The app's FoliosyncError handler (and FastAPI's for request validation) answers the API's clients
with JSON; a person who followed a link to a missing symbol or sent an expired form should see a
page that says what happened and what to do next, inside the normal layout. `PageRoute` catches
those errors for every page route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from foliosync.config import Settings
from foliosync.errors import FoliosyncError, ValidationFailed


def error_page(request: Request, exc: FoliosyncError) -> Response:
    from foliosync.web.templating import render

    settings: Settings = request.app.state.settings
    user = getattr(request.state, "user", None)
    context = {"title": _title(exc.status_code), "message": exc.message, "hint": exc.hint}
    return render(request, settings, "error.html", context, user=user, status_code=exc.status_code)


def _title(status: int) -> str:
    return {
        401: "Please log in",
        403: "Not allowed",
        404: "Not found",
        409: "Already there",
        422: "Cannot do that",
    }.get(status, "Something went wrong")


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except FoliosyncError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
                problem = ValidationFailed(
                    f"Some values in the address or form were not understood: {', '.join(fields) or 'input'}.",
                    hint="Go back and try again, or start from the menu.",
                )
                return error_page(request, problem)

        return page_handler
