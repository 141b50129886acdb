import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from aspora.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
    """The URL of the test database this test process uses, so a worker sees the same rows."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real `celery worker` subprocess on the production broker, pointed at the test database."""
    if not settings.PRODUCTION:
        pytest.fail("a worker process needs production mode: set DATABASE_URL and REDIS_URL (see README)")
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1"}
    hostname = f"test-{os.getpid()}@localhost"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "aspora", "worker", "--pool=solo", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "-n", hostname],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[hostname], timeout=1):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log.read_text()}")
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
