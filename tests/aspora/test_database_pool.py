"""The PostgreSQL pool hands out working connections: one whose backend was killed while it sat in
the pool is replaced, not given to a request to fail on; a healthy one costs no round trip."""

import subprocess

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from skills.models import Skill
from tests.processes import django_script_run

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


def test_a_statement_a_connection_runs_again_is_prepared_once(one_pooled_connection):
    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if "skills_skill" in row[0]]

    Skill.objects.filter(name="my-tickets").first()
    assert prepared() == []  # a statement seen once is only parsed and planned, as always

    for _ in range(3):  # the next request, task or event write that runs it uses the prepared plan
        Skill.objects.filter(name="my-tickets").first()
    statements = prepared()
    assert len(statements) == 1
    assert '"skills_skill"."name" = $1' in statements[0]  # the value is a parameter, not inlined


def _prepare_threshold_under(value: str) -> subprocess.CompletedProcess:
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    )
    return django_script_run(script, env={"DATABASE_PREPARE_THRESHOLD": value})


def test_preparing_can_be_switched_off_for_a_pooler_and_a_typo_is_named():
    assert _prepare_threshold_under("off").stdout.split()[-1] == "None"
    assert _prepare_threshold_under("5").stdout.split()[-1] == "5"

    wrong = _prepare_threshold_under("sometimes")
    assert wrong.returncode != 0
    assert "DATABASE_PREPARE_THRESHOLD must be a whole number or 'off', not 'sometimes'" in wrong.stderr
