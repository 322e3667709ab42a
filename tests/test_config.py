import pytest
from typer.testing import CliRunner

from foliosync.config import DEVELOPMENT_SECRET_KEY, ConfigurationError, Settings


def test_production_refuses_the_development_secret_key():
    settings = Settings(
        environment="production",
        secret_key=DEVELOPMENT_SECRET_KEY,
        encryption_key="8fZ2JmQy2QmJq2vRz4sZr7Qy5k5x2P0nX8hK1m3a9Bc=",
    )
    with pytest.raises(ConfigurationError, match="SECRET_KEY") as info:
        settings.check_production()
    assert "secrets.token_urlsafe" in str(info.value)


def test_production_refuses_a_missing_encryption_key():
    settings = Settings(environment="production", secret_key="x" * 48, encryption_key=None)
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEY") as info:
        settings.check_production()
    assert "Fernet.generate_key" in str(info.value)


def test_production_accepts_real_secrets():
    Settings(
        environment="production",
        secret_key="x" * 48,
        encryption_key="8fZ2JmQy2QmJq2vRz4sZr7Qy5k5x2P0nX8hK1m3a9Bc=",
    ).check_production()


def test_development_defaults_to_a_sqlite_file_in_the_user_data_dir():
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("foliosync.db")
    assert settings.redis_url is None


def test_serve_refuses_to_start_in_production_with_a_development_key(monkeypatch, tmp_path):
    from foliosync.cli import app
    from foliosync.config import get_settings

    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigurationError)
    assert "Refusing to start in production" in str(result.exception)


def test_secrets_are_masked_in_repr():
    settings = Settings(secret_key="super-secret-value-1234567890", ibkr_flex_token="tok-abcdef")
    assert "super-secret-value" not in repr(settings)
    assert "tok-abcdef" not in repr(settings)
