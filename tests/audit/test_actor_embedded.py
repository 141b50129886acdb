"""On the embedded default (SQLite) there are no row-change triggers: naming the person is a no-op
that neither fails nor changes what is written. (These run in both modes; only PostgreSQL gets the
wrapper that sets the person, tested in test_actor.py.)"""

from django.db import connection
from django.test import Client

from audit.actor import _actor_on_write, audit_actor
from tenants.models import User


def test_a_persons_writes_go_through_untouched_and_only_postgresql_is_wrapped(analyst):
    with audit_actor(user=analyst):
        User.objects.filter(pk=analyst.pk).update(first_name="Ana")

    assert User.objects.get(pk=analyst.pk).first_name == "Ana"
    assert (_actor_on_write in connection.execute_wrappers) == (connection.vendor == "postgresql")


def test_a_signed_in_persons_write_in_a_request_is_served_as_before(analyst):
    client = Client()
    client.force_login(analyst)

    signed_out = client.post("/logout/")  # deletes the session: a write made for a signed-in person

    assert signed_out.status_code == 302
    assert "_auth_user_id" not in client.session
