import pytest

import tests.support.fake_broker  # noqa: F401  (registers "testbroker")
from tests.support.api import client_for, make_settings


@pytest.fixture
def settings(engine):
    return make_settings(engine.url.render_as_string(hide_password=False))


@pytest.fixture
def client(settings):
    with client_for(settings) as c:
        yield c
