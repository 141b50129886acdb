import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from aspora.celery import app as celery_app
from tests.processes import test_database_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start real `celery worker` subprocesses on the production broker, pointed at the test database."""
    if not settings.PRODUCTION:
        pytest.fail("a worker process needs production mode: set DATABASE_URL and REDIS_URL (see README)")
    workers: list[subprocess.Popen] = []

    def start(*, pool: str = "solo", env: dict | None = None, name: str = "worker") -> subprocess.Popen:
        log = tmp_path / f"{name}.log"
        hostname = f"{name}-{os.getpid()}@localhost"
        environment = {**os.environ, **test_database_env(), "PYTHONUNBUFFERED": "1", **(env or {})}
        with log.open("w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "aspora", "worker", f"--pool={pool}", "--concurrency=1",
                 "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", hostname],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        workers.append(worker)
        worker.log = log
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[hostname], timeout=1):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log.read_text()}")
        return worker

    yield start
    for worker in workers:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.fixture
def celery_worker_process(start_worker):
    return start_worker()
