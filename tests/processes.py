"""For tests that start other processes (Celery workers, Daphne, a fresh Python) on this test
process's database and settings."""

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_env() -> dict[str, str]:
    """The environment that points a child process at the test database this process uses."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"ASPORA_SQLITE_PATH": str(s["NAME"])}
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return {"DATABASE_URL": f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"}


def django_script_run(script: str, *, env: dict[str, str] | None = None, drop=()) -> subprocess.CompletedProcess:
    """Run `script` (which calls `django.setup()`) in a fresh Python configured by the project's
    settings, as a server starts: with this process's environment less the variables whose names
    start with one of `drop`, plus `env`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(tuple(drop))}
    environment.update({"DJANGO_SETTINGS_MODULE": "aspora.settings", **(env or {})})
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
