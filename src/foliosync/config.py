"""Settings, read from the environment (and an optional `.env`) through pydantic-settings.

Every external service has a base-URL setting so tests point the same client code at a loopback
fake. Secrets are `SecretStr`: masked in `repr`, never logged. With `ENVIRONMENT=production`,
development secrets are refused at start-up (see `Settings.check_production`).
"""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The placeholder a new install runs with; production refuses it.
DEVELOPMENT_SECRET_KEY = "foliosync-development-secret-key-change-me"  # noqa: S105 (a known, public placeholder)

GENERATE_SECRET_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'  # noqa: S105 (a command, not a secret)
GENERATE_FERNET_HINT = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """Raised at start-up when the settings cannot run safely; the message says how to fix it."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("foliosync", appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'foliosync.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = Field(default_factory=default_database_url)
    redis_url: str | None = None
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    # One or more Fernet keys, comma-separated; the first encrypts, all decrypt.
    encryption_key: SecretStr | None = None
    access_token_minutes: int = 30
    # Anyone may register through the API when true; otherwise only the first user may, and an
    # administrator adds the others (`foliosync users create`).
    open_registration: bool = False
    log_level: str = "INFO"
    # Threads per web process for request handlers (see foliosync.app.lifespan).
    web_threads: int = 4

    # Interactive Brokers
    ibkr_flex_token: SecretStr | None = None
    ibkr_flex_query_id: str | None = None
    ibkr_flex_url: str = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService"
    ibkr_tws_host: str = "127.0.0.1"
    ibkr_tws_port: int = 4001
    ibkr_tws_client_id: int = 17
    ibkr_tws_readonly: bool = True

    # TastyTrade
    tastytrade_client_secret: SecretStr | None = None
    tastytrade_refresh_token: SecretStr | None = None
    tastytrade_api_url: str = "https://api.tastyworks.com"

    # Charles Schwab
    schwab_client_id: str | None = None
    schwab_client_secret: SecretStr | None = None
    schwab_redirect_uri: str | None = None
    schwab_api_url: str = "https://api.schwabapi.com"
    schwab_auth_url: str = "https://api.schwabapi.com/v1/oauth"
    feature_schwab_trading: bool = False

    # Robinhood's unofficial API is off unless the operator turns it on.
    feature_robinhood_api: bool = False

    # Market data
    fmp_api_key: SecretStr | None = None
    fmp_api_url: str = "https://financialmodelingprep.com"
    polygon_api_key: SecretStr | None = None
    polygon_api_url: str = "https://api.polygon.io"
    wikipedia_url: str = "https://en.wikipedia.org"

    # Sync scheduling
    sync_interval_minutes: int = 360
    sync_stale_after_minutes: int = 60

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    def check_production(self) -> None:
        """Refuse to run production on missing or development secrets, saying how to make real ones."""
        if not self.is_production:
            return
        problems: list[str] = []
        secret = self.secret_key.get_secret_value()
        if not secret or secret == DEVELOPMENT_SECRET_KEY or len(secret) < 32:
            problems.append(
                "SECRET_KEY is missing, too short or the development placeholder. "
                f"Generate one with: {GENERATE_SECRET_HINT}"
            )
        key = self.encryption_key.get_secret_value() if self.encryption_key else ""
        if not key.strip():
            problems.append(
                "ENCRYPTION_KEY is missing; production never derives it from SECRET_KEY. "
                f"Generate one with: {GENERATE_FERNET_HINT}"
            )
        if problems:
            raise ConfigurationError("Refusing to start in production:\n- " + "\n- ".join(problems))


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
