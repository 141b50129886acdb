import os
import shutil
from pathlib import Path

import pytest

from tests.processes import test_database_env
from tests.skills.conftest import demo, eager_tasks  # noqa: F401 - shared fixtures

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test body are
# still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Package scope: Playwright's loop must stop before asyncio tests elsewhere start theirs.
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def asgi_server(transactional_db, tmp_path_factory):
    """The real ASGI app (HTTP and websockets) in a Daphne process on the test database.

    In production mode a Celery worker process runs the skills, as it would for real. One per
    test: the database is flushed between tests, and a long-lived process would keep cached ids
    (content types) from before the flush.
    """
    import subprocess
    import sys
    import time
    import urllib.request

    from django.conf import settings

    port = _free_port()
    logs = tmp_path_factory.mktemp("asgi")
    env = {**os.environ, **test_database_env(), "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    processes = []
    with (logs / "daphne.log").open("w") as out:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "aspora.asgi:application"],
                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
    if settings.PRODUCTION:
        with (logs / "worker.log").open("w") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "aspora", "worker", "--pool=solo", "--without-gossip",
                     "--without-mingle", "-n", f"browser-{os.getpid()}@localhost"],
                    cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310 - loopback
                break
        except OSError:
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError((logs / "daphne.log").read_text()) from None
            time.sleep(0.2)
    yield url
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
