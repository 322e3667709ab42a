"""Build the real app on a test database and act as registered users."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from foliosync.app import create_app
from foliosync.config import Settings

TEST_FERNET_KEY = "8fZ2JmQy2QmJq2vRz4sZr7Qy5k5x2P0nX8hK1m3a9Bc="


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "encryption_key": TEST_FERNET_KEY,
        "environment": "test",
        "redis_url": None,
        "open_registration": True,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class ApiUser:
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register_and_login(client: TestClient, email: str, password: str = "correct horse battery") -> ApiUser:
    response = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    response = client.post("/api/v1/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return ApiUser(email, response.json()["access_token"])


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))
