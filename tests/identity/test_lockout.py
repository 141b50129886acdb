"""Login lockout: repeated failed passwords for one username from one address, with a cool-off."""

from datetime import timedelta

from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.utils import timezone

from tenants.services import api_token_create
from tests.factories import user_make
from tests.identity.conftest import sso_sign_in

PASSWORD = "nadias-own-pw-123"
LOCKED = (
    "Too many failed sign-in attempts for this username from your network. "
    "Try again in 15 minutes, or ask an Aspora admin to unlock it."
)
WRONG = "Please enter a correct username and password."


def _sign_in(client, password: str, *, username: str = "nadia", address: str = "198.51.100.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def _signed_in(client) -> bool:
    return client.get("/").wsgi_request.user.is_authenticated


def _fail(client, times: int, **kwargs) -> list[int]:
    return [_sign_in(client, "not-the-password", **kwargs).status_code for _ in range(times)]


def test_the_fifth_failure_locks_the_username_out_with_a_clear_message(client, acme):
    user_make("nadia", team=acme.teams.get(slug="ecm-field"), password=PASSWORD)

    failures = [_sign_in(client, "not-the-password") for _ in range(5)]
    response = _sign_in(client, PASSWORD)

    assert [r.status_code for r in failures] == [200, 200, 200, 200, 429]
    assert all(WRONG in r.content.decode() for r in failures[:4])
    assert response.status_code == 429
    html = response.content.decode()
    assert LOCKED in html and WRONG not in html
    assert 'value="nadia"' in html  # the sign-in page again, with the username kept
    assert not _signed_in(client)


def test_the_lockout_is_for_that_username_from_that_address_only(client, acme):
    team = acme.teams.get(slug="ecm-field")
    user_make("nadia", team=team, password=PASSWORD)
    user_make("omar", team=team, password="omars-own-pw-123")
    _fail(client, 5)

    assert _sign_in(client, PASSWORD).status_code == 429
    assert _sign_in(client, "omars-own-pw-123", username="omar").status_code == 302
    client.logout()
    assert _sign_in(client, PASSWORD, address="203.0.113.9").status_code == 302


def test_after_the_cool_off_the_right_password_works_again(client, acme):
    user_make("nadia", team=acme.teams.get(slug="ecm-field"), password=PASSWORD)
    _fail(client, 5)
    assert _sign_in(client, PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert _sign_in(client, PASSWORD).status_code == 302
    assert _signed_in(client)


def test_a_successful_sign_in_clears_the_count(client, acme):
    user_make("nadia", team=acme.teams.get(slug="ecm-field"), password=PASSWORD)

    _fail(client, 4)
    assert _sign_in(client, PASSWORD).status_code == 302
    client.logout()

    assert _fail(client, 4) == [200] * 4
    assert _sign_in(client, PASSWORD).status_code == 302


def test_single_sign_on_is_neither_locked_out_nor_counted(client, sso, acme):
    user_make("nadia", team=acme.teams.get(slug="ecm-field"), password=PASSWORD, email="nadia@acme.example")
    _fail(client, 5, address="127.0.0.1")
    assert _sign_in(client, PASSWORD, address="127.0.0.1").status_code == 429

    sso_sign_in(client)  # the test client signs in from 127.0.0.1 too
    assert client.get("/").wsgi_request.user.username == "nadia"

    # Failed SSO callbacks are not password guesses: none is recorded against anyone.
    client.logout()
    AccessAttempt.objects.all().delete()
    sso.tamper = {"sign_with_attacker_key": True}
    for _ in range(6):
        sso_sign_in(client)
    assert AccessAttempt.objects.count() == 0
    assert _sign_in(client, PASSWORD, address="127.0.0.1").status_code == 302


def test_an_api_token_keeps_working_for_a_locked_out_person(client, acme):
    nadia = user_make("nadia", team=acme.teams.get(slug="ecm-field"), password=PASSWORD)
    _, raw = api_token_create(user=nadia, name="laptop")
    _fail(client, 5)

    response = client.get("/api/me", headers={"Authorization": f"Bearer {raw}"}, REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 200
    assert response.json()["username"] == "nadia"


def test_authenticate_without_a_request_still_checks_the_password(acme):
    user_make("nadia", team=acme.teams.get(slug="ecm-field"), password=PASSWORD)

    assert authenticate(username="nadia", password=PASSWORD).username == "nadia"
    assert authenticate(username="nadia", password="wrong") is None


async def test_the_asgi_app_shows_the_lockout_page_too(transactional_db):
    """Daphne runs Django's async middleware chain, where axes calls the lockout page differently."""
    from channels.db import database_sync_to_async

    from aspora.asgi import application
    from tests.asgi import asgi_request
    from tests.factories import team_make, tenant_make

    await database_sync_to_async(user_make)(
        "nadia", team=await database_sync_to_async(team_make)(tenant=await database_sync_to_async(tenant_make)()),
        password=PASSWORD,
    )  # fmt: skip

    async def post(password: str) -> tuple[int, str]:
        host = (b"host", b"localhost")
        form = await asgi_request(application, "GET", "/login/", headers=[host])
        cookie = next(value for name, value in form["headers"] if name == b"Set-Cookie").split(b";")[0]
        token = form["body"].decode().split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        body = f"csrfmiddlewaretoken={token}&username=nadia&password={password}".encode()
        headers = [host, (b"cookie", cookie), (b"content-type", b"application/x-www-form-urlencoded")]
        response = await asgi_request(application, "POST", "/login/", body=body, headers=headers)
        return response["status"], response["body"].decode()

    statuses = [(await post("not-the-password"))[0] for _ in range(5)]
    status, html = await post(PASSWORD)

    assert statuses == [200, 200, 200, 200, 429]
    assert status == 429 and LOCKED in html
