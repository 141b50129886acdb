import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from tests.factories import team_make, tenant_make, user_make


def pytest_collection_modifyitems(config, items):
    """A `services` test outside production mode fails loudly: a missing service is never a skip."""
    if settings.PRODUCTION:
        return
    for item in items:
        if item.get_closest_marker("services"):
            item.add_marker(pytest.mark.usefixtures("_require_production_mode"))


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Seeding the demo hashes nine passwords per test; production strength is not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit windows (usage/services.py) live in the cache: no test inherits another's asks."""
    cache.clear()


@pytest.fixture
def one_pooled_connection(transactional_db):
    """A PostgreSQL pool of exactly one connection: every request, command and checkout below
    borrows the same backend."""
    options = connection.settings_dict["OPTIONS"]
    saved = options["pool"]
    connection.close()
    connection.close_pool()
    options["pool"] = {**saved, "min_size": 1, "max_size": 1}
    yield
    connection.close()
    connection.close_pool()
    options["pool"] = saved


@pytest.fixture
def _require_production_mode():
    if not settings.PRODUCTION:
        pytest.fail("this test needs production mode: set DATABASE_URL and REDIS_URL (see README)")


def pytest_sessionstart(session):
    # Production serves hashed static files from a manifest; pages cannot render without it.
    # It runs before collection because importing the ASGI app already builds the middleware.
    if settings.PRODUCTION:
        call_command("collectstatic", "--noinput", verbosity=0)


@pytest.fixture
def tenant(db):
    return tenant_make("acme")


@pytest.fixture
def team(tenant):
    return team_make(tenant=tenant, slug="ecm-field")


@pytest.fixture
def analyst(team):
    return user_make("ana", team=team)
