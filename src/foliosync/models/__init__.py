"""ORM tables, one file each. Importing this package registers them all on `Base.metadata`."""

from foliosync.models.account_credential import AccountCredential
from foliosync.models.account_sync import AccountSync
from foliosync.models.balance import Balance
from foliosync.models.broker_account import BrokerAccount
from foliosync.models.cash_transaction import CashTransaction
from foliosync.models.corporate_action import CorporateAction
from foliosync.models.daily_price import DailyPrice
from foliosync.models.index_constituent import IndexConstituent
from foliosync.models.index_refresh import IndexRefresh
from foliosync.models.instrument import Instrument
from foliosync.models.oauth_state import OAuthState
from foliosync.models.option_event import OptionEvent
from foliosync.models.position import Position
from foliosync.models.raw_payload import RawPayload
from foliosync.models.tax_lot import TaxLot
from foliosync.models.trade import Trade
from foliosync.models.transfer import Transfer
from foliosync.models.user import User

__all__ = [
    "AccountCredential",
    "AccountSync",
    "Balance",
    "BrokerAccount",
    "CashTransaction",
    "CorporateAction",
    "DailyPrice",
    "IndexConstituent",
    "IndexRefresh",
    "Instrument",
    "OAuthState",
    "OptionEvent",
    "Position",
    "RawPayload",
    "TaxLot",
    "Trade",
    "Transfer",
    "User",
]
