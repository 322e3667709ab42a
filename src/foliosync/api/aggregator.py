"""/api/v1/aggregator/brokers: the available brokers, their credential fields and capabilities."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from foliosync.api.deps import app_settings
from foliosync.brokers.registry import load_all
from foliosync.config import Settings

router = APIRouter(prefix="/api/v1/aggregator", tags=["aggregator"])


class CredentialFieldOut(BaseModel):
    name: str
    label: str
    secret: bool
    required: bool
    help: str


class BrokerOut(BaseModel):
    broker: str
    display_name: str
    credential_fields: list[CredentialFieldOut]
    capabilities: list[str]
    import_formats: list[str]
    notes: str


def _brokers() -> list[BrokerOut]:
    return [
        BrokerOut(
            broker=name,
            display_name=reg.manifest.display_name,
            credential_fields=[
                CredentialFieldOut(
                    name=f.name, label=f.label, secret=f.secret, required=f.required, help=f.help
                )
                for f in reg.manifest.credential_fields
            ],
            capabilities=sorted(c.value for c in reg.manifest.capabilities),
            import_formats=list(reg.manifest.import_formats),
            notes=reg.manifest.notes,
        )
        for name, reg in sorted(load_all().items())
    ]


@router.get("/brokers", response_model=list[BrokerOut])
def list_brokers(_settings: Settings = Depends(app_settings)) -> list[BrokerOut]:
    return _brokers()


@router.post("/brokers", response_model=list[BrokerOut])
def list_brokers_post(_settings: Settings = Depends(app_settings)) -> list[BrokerOut]:
    """The same list over POST, for clients of the earlier aggregator API."""
    return _brokers()
