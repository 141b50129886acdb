"""Private production services for the failure drills: a PostgreSQL cluster, a Redis server, Daphne
and Celery workers of our own, so a drill can kill and restart them without touching the machine's
shared PostgreSQL (5432) and Redis (6379) that other tests use.

Session scope: one PostgreSQL cluster (its own data dir, free port, unix socket in a tmp dir) with a
migrated and seeded template database, and one Redis server (AOF on, as a broker's should be).
Test scope: a fresh database copied from the template, a flushed Redis, and the Daphne / Celery
processes the drill starts. Everything is stopped at teardown, on failure too.
"""

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("ASPORA_DRILL_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE_DB = "drill_template"
SECRET_KEY = "drill-secret-key-long-enough-for-django-checks-0123456789abcdef"
_database_names = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll until `predicate()` is truthy; its value is returned. Fails naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- PostgreSQL -----------------------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway cluster from the machine's PostgreSQL binaries, run as `postgres` when we are root."""

    def __init__(self, base: Path):
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.log = base / "postgres.log"
        self.port = free_port()

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def _run(self, *argv: str, timeout: float = 120) -> None:
        result = subprocess.run(self._as_owner(*argv), capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}\n{tail}")

    def init(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"no PostgreSQL binaries in {PG_BIN} (set ASPORA_DRILL_PG_BIN)")
        self.sockets.mkdir(parents=True)
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            for path in (self.sockets, self.log):
                shutil.chown(path, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
                  "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, query: str, params=(), *, db: str = "postgres") -> list[tuple]:
        with psycopg.connect(self.url(db), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []


# --- Redis ----------------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own. AOF is on (fsync always): a production broker keeps its queue over a restart."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                "--appendfsync", "always", "--dir", str(self.base), "--daemonize", "no"]  # fmt: skip
        with (self.base / "redis.log").open("a") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self.ping, 20, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """One command in RESP, the reply's raw bytes (enough for FLUSHALL and LLEN)."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(payload.encode())
            return sock.recv(4096)

    def stop(self) -> None:
        """SIGTERM: Redis shuts down cleanly (the AOF is already fsynced)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@pytest.fixture(scope="session")
def drill_base():
    base = Path(tempfile.mkdtemp(prefix="aspora-drill-"))
    base.chmod(0o755)  # the postgres user must reach its data dir below
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def private_postgres(drill_base):
    (drill_base / "pg").mkdir()
    pg = PrivatePostgres(drill_base / "pg")
    pg.init()
    pg.start()
    try:
        pg.sql(f'CREATE DATABASE "{TEMPLATE_DB}"')
        yield pg
    finally:
        if pg.is_running():
            with contextlib.suppress(Exception):
                pg.stop("immediate")


@pytest.fixture(scope="session")
def private_redis(drill_base):
    (drill_base / "redis").mkdir()
    redis = PrivateRedis(drill_base / "redis")
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def _env(pg: PrivatePostgres, redis: PrivateRedis, db: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "DATABASE_", "REDIS_", "CELERY_", "ASPORA_"))
    }
    return {
        **environment,
        "DATABASE_URL": pg.url(db),
        "REDIS_URL": redis.url(0),
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SETTINGS_MODULE": "aspora.settings",
        "ASPORA_MODEL": "test",
        # The drills are about failures, not about the per-person rate limit a burst of asks meets.
        "ASPORA_RATE_LIMIT_PER_MINUTE": "100000",
        "PYTHONUNBUFFERED": "1",
    }


def _manage(env: dict, *args: str, timeout: float = 300) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="session")
def seeded_template(private_postgres, private_redis):
    """Migrate and seed the demo once; every drill copies this database."""
    env = _env(private_postgres, private_redis, TEMPLATE_DB)
    _manage(env, "migrate", "--noinput")
    _manage(env, "seed_demo", "--force")
    return TEMPLATE_DB


# --- the stack of one drill -----------------------------------------------------------------------

_CREDENTIALS = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from tenants.models import User
from tenants.services import api_token_create
out = {}
for user in User.objects.filter(username__in=USERNAMES):
    _, raw = api_token_create(user=user, name="drill")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    out[user.username] = {"token": raw, "session": session.session_key}
print("CREDENTIALS=" + json.dumps(out))
"""


class Stack:
    """Daphne and Celery workers on the private services, with a fresh copy of the seeded database."""

    def __init__(self, *, base: Path, pg: PrivatePostgres, redis: PrivateRedis, db: str):
        self.base, self.pg, self.redis, self.db = base, pg, redis, db
        self.env = _env(pg, redis, db)
        self.processes: dict[str, subprocess.Popen] = {}
        self.daphne_port: int | None = None
        self.credentials: dict[str, dict] = {}

    # processes ------------------------------------------------------------------------------------

    def log_path(self, label: str) -> Path:
        return self.base / f"{label}.log"

    def log_tail(self, label: str, chars: int = 3000) -> str:
        path = self.log_path(label)
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _start(self, label: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        with self.log_path(label).open("a") as out:
            process = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **(env or {})}, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.processes[label] = process
        return process

    def start_daphne(self, env: dict | None = None) -> subprocess.Popen:
        self.daphne_port = self.daphne_port or free_port()
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.daphne_port),
                "aspora.asgi:application"]  # fmt: skip
        process = self._start("daphne", argv, env)

        def ready():
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{self.log_tail('daphne')}")
            return self.http("GET", "/readyz", timeout=5)[0] == 200

        wait_for(ready, 60, "daphne's /readyz to answer 200")
        return process

    def start_worker(self, label: str = "worker", *, concurrency: int = 2, beat: bool = False,
                     env: dict | None = None) -> subprocess.Popen:  # fmt: skip
        hostname = f"{label}-{os.getpid()}@drill"
        argv = [sys.executable, "-m", "celery", "-A", "aspora", "worker", "--pool=prefork",
                f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                "-n", hostname]  # fmt: skip
        if beat:
            argv += ["--beat", "--schedule", str(self.base / f"{label}-beat-schedule")]
        process = self._start(label, argv, env)

        def ready():
            if process.poll() is not None:
                raise RuntimeError(f"celery worker {label} exited:\n{self.log_tail(label)}")
            return f"{hostname} ready." in self.log_path(label).read_text(errors="replace")

        wait_for(ready, 90, f"celery worker {label} to be ready")
        return process

    def pool_children(self, label: str = "worker") -> list[int]:
        parent = self.processes[label].pid
        out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False).stdout
        return [int(pid) for pid in out.split()]

    def kill(self, label: str) -> None:
        """SIGKILL a process and everything in its session (a worker's pool children)."""
        process = self.processes[label]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    # people ---------------------------------------------------------------------------------------

    def login(self, *usernames: str) -> dict[str, dict]:
        """An API token and a signed-in session cookie for each person."""
        code = f"USERNAMES = {list(usernames)!r}\n{_CREDENTIALS}"
        out = _manage(self.env, "shell", "-c", code, timeout=120)
        line = next(line for line in out.splitlines() if line.startswith("CREDENTIALS="))
        self.credentials.update(json.loads(line.removeprefix("CREDENTIALS=")))
        missing = set(usernames) - set(self.credentials)
        if missing:
            raise RuntimeError(f"no such demo people: {sorted(missing)}")
        return self.credentials

    # clients --------------------------------------------------------------------------------------

    def http(self, method: str, path: str, *, user: str | None = None, body: dict | None = None,
             timeout: float = 30) -> tuple[int, dict | str]:  # fmt: skip
        """One request to Daphne: (status, JSON body or text). Connection failures are status 0."""
        headers = {"Content-Type": "application/json"}
        if user:
            headers["Authorization"] = f"Bearer {self.credentials[user]['token']}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.daphne_port}{path}", data=data, headers=headers,
                                         method=method)  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (OSError, TimeoutError) as error:
            return 0, f"{type(error).__name__}: {error}"
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def ask(self, user: str, message: str, skill: str) -> str:
        status, body = self.http("POST", "/api/runs", user=user, body={"message": message, "skill": skill})
        assert status == 202, f"POST /api/runs answered {status}: {body}"
        return body["id"]

    def run_row(self, run_id: str) -> dict:
        rows = self.pg.sql(
            "SELECT status, attempts, answer, error, finished_at FROM skills_skillrun WHERE id = %s",
            [run_id],
            db=self.db,
        )
        assert rows, f"run {run_id} is not in the database"
        status, attempts, answer, error, finished_at = rows[0]
        return {"status": status, "attempts": attempts, "answer": answer, "error": error, "finished_at": finished_at}

    def events(self, run_id: str) -> list[tuple[int, str, dict]]:
        return self.pg.sql(
            "SELECT seq, type, data FROM skills_skillrunevent WHERE run_id = %s ORDER BY seq", [run_id], db=self.db
        )

    def wait_finished(self, run_ids, timeout: float) -> dict[str, dict]:
        """Wait until every run is in a terminal state; its rows are returned."""

        def all_finished():
            rows = {run_id: self.run_row(run_id) for run_id in run_ids}
            return rows if all(row["status"] in TERMINAL for row in rows.values()) else None

        try:
            return wait_for(all_finished, timeout, f"runs {list(run_ids)} to reach a terminal state", interval=0.5)
        except AssertionError as error:
            states = {run_id: self.run_row(run_id)["status"] for run_id in run_ids}
            raise AssertionError(f"{error}: {states}\nworker log:\n{self.log_tail('worker')}") from None

    def wait_status(self, run_id: str, status: str, timeout: float) -> dict:
        try:
            return wait_for(lambda: (row := self.run_row(run_id))["status"] == status and row, timeout, f"run {status}")
        except AssertionError as error:
            raise AssertionError(f"{error}: {self.run_row(run_id)}\nworker log:\n{self.log_tail('worker')}") from None

    def follow(self, user: str, run_id: str, *, idle_timeout: float = 15, deadline: float = 180) -> "Listener":
        listener = Listener(self, user, run_id, idle_timeout=idle_timeout, deadline=deadline)
        listener.start()
        return listener


TERMINAL = {"succeeded", "failed", "refused"}


class Listener(threading.Thread):
    """Follows one run over `/ws/runs/<id>/` like a browser would: on a dropped or silent socket it
    reconnects with `?after=<last seq>` and catches up from the stored events."""

    def __init__(self, stack: Stack, user: str, run_id: str, *, idle_timeout: float, deadline: float):
        super().__init__(daemon=True)
        self.stack, self.user, self.run_id = stack, user, run_id
        self.idle_timeout, self.deadline = idle_timeout, deadline
        self.events: list[dict] = []
        self.connects = 0
        self.finished = threading.Event()

    @property
    def last_seq(self) -> int:
        return self.events[-1]["seq"] if self.events else 0

    @property
    def terminal(self) -> dict | None:
        last = self.events[-1] if self.events else None
        return last if last and last["event"] in ("run.final", "run.error") else None

    def run(self) -> None:
        try:
            asyncio.run(self._follow())
        finally:
            self.finished.set()

    async def _follow(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        port, cookie = self.stack.daphne_port, f"sessionid={self.stack.credentials[self.user]['session']}"
        stop_at = time.monotonic() + self.deadline
        while time.monotonic() < stop_at and not self.terminal:
            try:
                async with connect(f"ws://127.0.0.1:{port}/ws/runs/{self.run_id}/?after={self.last_seq}",
                                   origin=f"http://127.0.0.1:{port}", additional_headers={"Cookie": cookie},
                                   open_timeout=10) as ws:  # fmt: skip
                    self.connects += 1
                    while not self.terminal:
                        event = json.loads(await asyncio.wait_for(ws.recv(), self.idle_timeout))
                        if event.get("seq", 0) > self.last_seq:
                            self.events.append(event)
            except (OSError, TimeoutError, WebSocketException):
                await asyncio.sleep(0.5)

    def result(self, timeout: float) -> dict:
        assert self.finished.wait(timeout), f"listener of run {self.run_id} still waiting after {timeout:.0f} s"
        return {"events": self.events, "connects": self.connects, "terminal": self.terminal}


@pytest.fixture
def stack(private_postgres, private_redis, seeded_template, tmp_path):
    """A fresh database (copy of the seeded template) and a flushed Redis; Daphne/workers as the drill starts them."""
    private_postgres.ensure_running()
    private_redis.ensure_running()
    private_redis.command("FLUSHALL")
    db = f"drill_{os.getpid()}_{next(_database_names)}"
    private_postgres.sql(f'CREATE DATABASE "{db}" TEMPLATE "{seeded_template}"')
    drill = Stack(base=tmp_path, pg=private_postgres, redis=private_redis, db=db)
    try:
        yield drill
    finally:
        drill.stop()
        with contextlib.suppress(Exception):
            private_postgres.ensure_running()
            private_postgres.sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
