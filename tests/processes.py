"""For tests that start other processes (Celery workers, Daphne) on this test process's database."""

from django.db import connection


def test_database_env() -> dict[str, str]:
    """The environment that points a child process at the test database this process uses."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"ASPORA_SQLITE_PATH": str(s["NAME"])}
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return {"DATABASE_URL": f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"}
