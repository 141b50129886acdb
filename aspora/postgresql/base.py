"""Django's PostgreSQL backend, with a cheaper check of the connections its psycopg pool hands out.

psycopg_pool's own check (what `CONN_HEALTH_CHECKS` installs) sends an empty query on every
checkout: a round trip per request, per websocket database call and per task, on every run's path.
A connection the server closed while it sat in the pool (a restart, `pg_terminate_backend`, an idle
timeout) has told the client so: the server's goodbye (a FATAL notice) or the end of the stream is
waiting on its socket. So this check polls the socket first, without blocking and without a round
trip; only when something is waiting on an idle connection does it run the full check, which reads
it and raises for a closed connection, so the pool drops it and hands out another.
"""

import select

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def pooled_connection_check(conn) -> None:
    """Raise if `conn` is unusable; no round trip for the healthy, idle connection a pool holds."""
    if conn.closed or conn.broken:
        ConnectionPool.check_connection(conn)  # raises: the connection is gone
        return
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        # Django builds the pool with psycopg_pool's check and offers no other: swap ours in once.
        # tests/aspora/test_database_pool.py fails if psycopg_pool stops keeping it there.
        if pool is not None and pool._check is not pooled_connection_check:
            pool._check = pooled_connection_check
        return pool
