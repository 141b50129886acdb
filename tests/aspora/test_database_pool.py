"""The PostgreSQL pool hands out working connections: one whose backend was killed while it sat in
the pool is replaced, not given to a request to fail on; a healthy one costs no round trip."""

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from skills.models import Skill

pytestmark = pytest.mark.services


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_connection_killed_while_idle_in_the_pool_is_replaced(one_pooled_connection):
    killed = _backend_pid()
    connection.close()  # back to the pool, idle
    with psycopg.connect(connection.pool.conninfo, autocommit=True) as admin:
        # The signal is asynchronous; the timeout (ms) waits until the backend has really gone, as
        # it has for a connection that sat killed in the pool before a request came for it.
        terminated = admin.execute("SELECT pg_terminate_backend(%s, 5000)", [killed]).fetchone()[0]
    assert terminated

    # What a request does next: borrow a connection and query. It works, on a new backend.
    assert Skill.objects.count() >= 0
    assert _backend_pid() != killed
    connection.close()


def test_a_healthy_idle_connection_is_handed_out_without_asking_the_server(one_pooled_connection, monkeypatch):
    first = _backend_pid()
    connection.close()
    asked = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(lambda conn: asked.append(conn)))

    for _ in range(5):
        assert _backend_pid() == first
        connection.close()

    assert asked == []
