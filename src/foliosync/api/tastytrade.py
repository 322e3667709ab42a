"""POST /api/v1/aggregator/tastytrade/connect and GET /api/v1/aggregator/tastytrade/status.

The connect body carries the user's client secret and refresh token. It is parsed by hand, not by
FastAPI's request validation, because a 422 from that echoes the submitted body (`input`), which
would send the other secret straight back. Errors here name the fields, never their values.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool

from foliosync.api.deps import app_settings, current_user
from foliosync.brokers.tastytrade.adapter import TastyTradeAdapter
from foliosync.brokers.tastytrade.connect import ConnectJob, TastyTradeConnectService
from foliosync.brokers.tastytrade.credentials import OAUTH_APPS_PATH
from foliosync.config import Settings
from foliosync.errors import ValidationFailed
from foliosync.kv import store_for
from foliosync.models import User
from foliosync.vault import vault_from_settings

router = APIRouter(prefix="/api/v1/aggregator/tastytrade", tags=["tastytrade"])

BODY_HINT = f'Send JSON {{"client_secret": "...", "refresh_token": "..."}}; both are under {OAUTH_APPS_PATH}.'


class TastyTradeConnectRequest(BaseModel):
    client_secret: SecretStr
    refresh_token: SecretStr


class ConnectStarted(BaseModel):
    job_id: str
    status: str


class ConnectedAccountOut(BaseModel):
    id: int
    external_account_id: str
    alias: str


class ConnectStatusOut(BaseModel):
    job_id: str
    status: str  # pending | success | error
    message: str | None = None
    hint: str | None = None
    accounts: list[ConnectedAccountOut] = []


def connect_service(request: Request, settings: Settings = Depends(app_settings)) -> TastyTradeConnectService:
    """The connect service for this app; the background thread opens its own sessions."""
    base_url = settings.tastytrade_api_url
    return TastyTradeConnectService(
        store=store_for(settings.redis_url),
        sessions=request.app.state.sessionmaker,
        vault=vault_from_settings(settings),
        adapter_factory=lambda: TastyTradeAdapter(base_url=base_url),
    )


async def _read_connect_request(request: Request) -> TastyTradeConnectRequest:
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed("The request body is not JSON.", hint=BODY_HINT) from None
    try:
        return TastyTradeConnectRequest.model_validate(data)
    except ValidationError as exc:
        fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]}) or ["body"]
        raise ValidationFailed(f"Missing or invalid: {', '.join(fields)}.", hint=BODY_HINT) from None


@router.post(
    "/connect",
    status_code=202,
    response_model=ConnectStarted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TastyTradeConnectRequest.model_json_schema()}},
        }
    },
)
async def connect(
    request: Request,
    user: User = Depends(current_user),
    service: TastyTradeConnectService = Depends(connect_service),
) -> ConnectStarted:
    """Start connecting TastyTrade; poll GET /status?job_id=... for the outcome."""
    body = await _read_connect_request(request)
    job = await run_in_threadpool(
        service.start, user.id, body.client_secret.get_secret_value(), body.refresh_token.get_secret_value()
    )
    return ConnectStarted(job_id=job.job_id, status=job.status.value)


@router.get("/status", response_model=ConnectStatusOut)
def status(
    job_id: str = Query(min_length=1, max_length=128),
    user: User = Depends(current_user),
    service: TastyTradeConnectService = Depends(connect_service),
) -> ConnectStatusOut:
    return _status_out(service.status(user.id, job_id))


def _status_out(job: ConnectJob) -> ConnectStatusOut:
    return ConnectStatusOut(
        job_id=job.job_id,
        status=job.status.value,
        message=job.message,
        hint=job.hint,
        accounts=[
            ConnectedAccountOut(id=a.id, external_account_id=a.external_account_id, alias=a.alias)
            for a in job.accounts
        ],
    )
