"""Answer the hottest read endpoints before FastAPI's routing and dependency machinery.

Under load the consolidated-positions read is mostly framework: matching the path against every
route, solving dependencies and unwinding a stack of middleware cost more than the endpoint itself
once its answer is cached (docs/benchmarks.md). This ASGI middleware sends an exact `GET` of a hot
path straight to its endpoint function: the SAME function FastAPI also routes to (so OpenAPI, tests
and any path this does not claim behave as before), with the app's own error answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from foliosync.errors import FoliosyncError

Endpoint = Callable[[Request], Awaitable[Response]]


def foliosync_error_response(exc: FoliosyncError) -> JSONResponse:
    """The API's JSON answer for a FoliosyncError (also the app's exception handler)."""
    body = {"error": exc.code, "message": exc.message}
    if exc.hint:
        body["hint"] = exc.hint
    return JSONResponse(status_code=exc.status_code, content=body)


class HotRoutes:
    """ASGI middleware: `GET <path>` for a path in `routes` runs that endpoint directly."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, Endpoint]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except FoliosyncError as exc:
            response = foliosync_error_response(exc)
        except RequestValidationError as exc:
            response = await request_validation_exception_handler(request, exc)
        await response(scope, receive, send)
