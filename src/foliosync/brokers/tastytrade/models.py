"""Raw TastyTrade REST payloads as pydantic models (shared brokers.md §A.4-A.6).

These mirror the wire format, not our ledger: keys are dasherized (`account-number`), numbers
arrive as unsigned strings with the sign in a sibling `<field>-effect` (`Credit` / `Debit` /
`None`). Signs are settled in the normalizer, never here. Unknown keys are ignored so that an
`Accept-Version` bump that adds fields does not break a sync; a missing required key or a value
of the wrong type is a `ValidationError`, which the client turns into `BrokerDataError`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field


def _dasherize(name: str) -> str:
    return name.replace("_", "-")


class TastyModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=_dasherize),
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )


class TokenResponse(BaseModel):
    """`POST /oauth/token` (brokers.md §A.2): plain OAuth keys, not dasherized."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: str = Field(repr=False, min_length=1)
    expires_in: int = 900
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)


class Account(TastyModel):
    account_number: str = Field(min_length=1)
    nickname: str | None = None
    account_type_name: str | None = None
    margin_or_cash: str | None = None
    is_closed: bool = False
    is_test_drive: bool = False
    opened_at: datetime | None = None
    suitable_options_level: str | None = None


class CustomerAccount(TastyModel):
    """One item of `GET /customers/me/accounts`: `{"account": {...}, "authority-level": "owner"}`."""

    account: Account
    authority_level: str | None = None


class Position(TastyModel):
    account_number: str
    symbol: str
    instrument_type: str
    underlying_symbol: str | None = None
    quantity: Decimal  # unsigned; the sign is quantity-direction
    quantity_direction: str  # Long / Short / Zero
    multiplier: Decimal = Decimal(1)
    average_open_price: Decimal | None = None
    close_price: Decimal | None = None
    mark: Decimal | None = None
    mark_price: Decimal | None = None
    cost_effect: str | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Balance(TastyModel):
    """`GET /accounts/{n}/balances/USD`; the ~45 fields are kept whole in `raw` for the record's
    components, the ones the ledger stores are typed here. Values are unsigned magnitudes."""

    account_number: str
    currency: str = "USD"
    cash_balance: Decimal
    net_liquidating_value: Decimal
    equity_buying_power: Decimal | None = None
    derivative_buying_power: Decimal | None = None
    maintenance_requirement: Decimal | None = None
    long_equity_value: Decimal = Decimal(0)
    short_equity_value: Decimal = Decimal(0)
    long_derivative_value: Decimal = Decimal(0)
    short_derivative_value: Decimal = Decimal(0)
    long_futures_value: Decimal = Decimal(0)
    short_futures_value: Decimal = Decimal(0)
    long_futures_derivative_value: Decimal = Decimal(0)
    short_futures_derivative_value: Decimal = Decimal(0)
    long_cryptocurrency_value: Decimal = Decimal(0)
    short_cryptocurrency_value: Decimal = Decimal(0)
    long_bond_value: Decimal = Decimal(0)
    pending_cash: Decimal = Decimal(0)
    pending_cash_effect: str | None = None
    snapshot_date: date | None = None
    updated_at: datetime | None = None


class Transaction(TastyModel):
    """One row of `GET /accounts/{n}/transactions` (SDK `Transaction` model, brokers.md §A.6)."""

    id: int
    account_number: str
    transaction_type: str
    transaction_sub_type: str | None = None
    description: str | None = None
    executed_at: datetime
    transaction_date: date
    value: Decimal = Decimal(0)
    value_effect: str | None = None
    net_value: Decimal | None = None
    net_value_effect: str | None = None
    is_estimated_fee: bool = False
    symbol: str | None = None
    instrument_type: str | None = None
    underlying_symbol: str | None = None
    action: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    commission: Decimal | None = None
    commission_effect: str | None = None
    clearing_fees: Decimal | None = None
    clearing_fees_effect: str | None = None
    regulatory_fees: Decimal | None = None
    regulatory_fees_effect: str | None = None
    proprietary_index_option_fees: Decimal | None = None
    proprietary_index_option_fees_effect: str | None = None
    other_charge: Decimal | None = None
    other_charge_effect: str | None = None
    other_charge_description: str | None = None
    order_id: int | None = None
    exec_id: str | None = None
    reverses_id: int | None = None
    exchange: str | None = None


class Pagination(TastyModel):
    """The top-level `pagination` block (brokers.md §A.4)."""

    per_page: int | None = None
    page_offset: int = 0
    total_items: int | None = None
    total_pages: int = 1
    current_item_count: int | None = None


ItemT = TypeVar("ItemT")


class ItemsData(TastyModel, Generic[ItemT]):
    items: list[ItemT]


class ItemsEnvelope(TastyModel, Generic[ItemT]):
    """`{"data": {"items": [...]}, "context": "/path", "pagination": {...}}`."""

    data: ItemsData[ItemT]
    pagination: Pagination | None = None


class ObjectEnvelope(TastyModel):
    """`{"data": {...}, "context": "/path"}`; `data` is validated separately."""

    data: dict[str, Any]
