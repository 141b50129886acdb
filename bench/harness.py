"""Shared set-up of the benchmarks: a production-mode stack on loopback, torn down on exit.

A benchmark builds a `Stack` (a dedicated PostgreSQL database and Redis db number), which
recreates the database, migrates and seeds it, and then starts the processes it is asked for
(daphne, Celery workers, `manage.py watch_domains`). Leaving the `with` block (normally, on an
error, on Ctrl-C or SIGTERM) stops every process it started and drops the database.
"""

import contextlib
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_BASE = "redis://127.0.0.1:6379"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> str:
    """Cores and load: a benchmark on a busy machine says so."""
    loads = "/".join(f"{load:.2f}" for load in os.getloadavg())
    return f"{os.cpu_count()} cores, load average (1/5/15 min) {loads}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks stop the child processes."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


# --- statistics -----------------------------------------------------------------------------


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean/max of durations given in seconds, in milliseconds."""
    return {
        "n": len(samples),
        "p50": percentile(samples, 50) * 1000,
        "p99": percentile(samples, 99) * 1000,
        "mean": statistics.fmean(samples) * 1000,
        "max": max(samples) * 1000,
    }


def format_summary(label: str, samples: Sequence[float]) -> str:
    s = summary_ms(samples)
    return (
        f"{label:<34} n={s['n']:<4} p50={s['p50']:7.1f} ms  p99={s['p99']:7.1f} ms  "
        f"mean={s['mean']:7.1f} ms  max={s['max']:7.1f} ms"
    )


# --- memory ---------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (e.g. a prefork worker's children)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending.extend(int(child) for child in task.read_text().split())
    return tree


def peak_rss_mib(pid: int) -> float:
    """Sum over the process tree of each process's peak resident set (VmHWM)."""
    total_kib = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by the live members of the process tree."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def command_cpu_seconds(command: str) -> float:
    """CPU time of every process named `command` (e.g. postgres), its reaped children included."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            head, _, rest = stat.read_text().rpartition(")")
            if head.partition("(")[2] == command:
                fields = rest.split()
                ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def pg_sessions(db_name: str) -> int:
    """How many sessions (connections) PostgreSQL has counted for the database so far."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [db_name]).fetchone()
    return row[0] if row else 0


def peak_rss_reset(pid: int) -> None:
    """Restart the peak-RSS count of the tree (Linux: `5` written to clear_refs)."""
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            Path(f"/proc/{member}/clear_refs").write_text("5")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback http:// URL
            return response.status == 200
    except OSError:
        return False


# --- the stack ------------------------------------------------------------------------------


class Stack:
    """Production-mode services for one benchmark, on a dedicated database and Redis db."""

    def __init__(self, *, name: str, db_name: str, redis_db: int, extra_env: dict[str, str] | None = None):
        self.name = name
        self.db_name = db_name
        self.redis_url = f"{REDIS_BASE}/{redis_db}"
        self.logs = Path(tempfile.mkdtemp(prefix=f"aspora-{name}-logs-"))
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
            "REDIS_URL": self.redis_url,
            "DJANGO_SECRET_KEY": f"bench-{name}-secret-key-that-is-long-enough-for-django-checks-0123456789",
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SETTINGS_MODULE": "aspora.settings",
            "ASPORA_MODEL": "test",
            # A benchmark's askers ask far more than a person: the per-person limit is not what it measures.
            "ASPORA_RATE_LIMIT_PER_MINUTE": "0",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    # Set-up ----------------------------------------------------------------------------------

    def __enter__(self) -> "Stack":
        _stop_on_sigterm()
        log(f"machine: {machine()}")
        log(f"logs of the child processes go to {self.logs} (removed after a successful run)")
        try:
            self._database_recreate()
            redis.Redis.from_url(self.redis_url).flushdb()
            log(f"migrating {self.db_name}…")
            self.manage("migrate", "--noinput")
            log("seeding the demo (seed_demo --force)…")
            self.manage("seed_demo", "--force")
            self.django_setup()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _database_recreate(self) -> None:
        log(f"creating database {self.db_name}…")
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def django_setup(self) -> None:
        """Configure this process like the servers (production mode, the same database)."""
        for key in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"):
            os.environ[key] = self.env[key]
        for key in ("DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SETTINGS_MODULE", "ASPORA_MODEL", "ASPORA_DOMAINS_DIR"):
            if key in self.env:
                os.environ[key] = self.env[key]
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()

    # Processes -------------------------------------------------------------------------------

    def start(self, label: str, argv: list[str]) -> subprocess.Popen:
        out = (self.logs / f"{label}.log").open("w")
        process = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self.processes[label] = process
        return process

    def check_alive(self) -> None:
        for label, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.logs / f"{label}.log").read_text()[-3000:]
                raise RuntimeError(f"{label} exited with {process.returncode}:\n{tail}")

    def wait_for_output(self, label: str, text: str, timeout: float = 60) -> None:
        """Wait until the process's log shows `text`."""
        deadline = time.monotonic() + timeout
        while text not in (self.logs / f"{label}.log").read_text():
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label} did not print {text!r} within {timeout:.0f} s")
            time.sleep(0.05)

    def start_daphne(self, port: int) -> subprocess.Popen:
        log(f"starting daphne on 127.0.0.1:{port}…")
        process = self.start(
            "daphne", [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "aspora.asgi:application"]
        )
        deadline = time.monotonic() + 60
        while not _http_ok(f"http://127.0.0.1:{port}/readyz"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not become ready within 60 s")
            time.sleep(0.1)
        log("daphne ready (/readyz 200)")
        return process

    def start_celery_worker(self, label: str = "worker", concurrency: int = 2) -> subprocess.Popen:
        hostname = f"{label}-{os.getpid()}@bench"
        log(f"starting celery worker {hostname} (prefork, -c {concurrency})…")
        process = self.start(
            label,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "aspora",
                "worker",
                "--pool=prefork",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "-n",
                hostname,
            ],
        )
        from aspora.celery import app as celery_app

        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[hostname], timeout=1):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("celery worker did not answer a ping within 60 s")
        log("celery worker ready (answers ping)")
        return process

    # Tear-down -------------------------------------------------------------------------------

    def __exit__(self, exc_type, exc, tb) -> None:
        for label, process in reversed(self.processes.items()):
            if process.poll() is None:
                log(f"stopping {label} (pid {process.pid})…")
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            # Whatever the process left in its own session (prefork children) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        try:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            redis.Redis.from_url(self.redis_url).flushdb()
            log(f"dropped database {self.db_name} and flushed {self.redis_url}")
        except Exception as error:  # noqa: BLE001 - tear-down reports and goes on
            log(f"clean-up failed: {error}")
        if exc_type is None:
            shutil.rmtree(self.logs, ignore_errors=True)
        else:
            log(f"failed; child process logs are in {self.logs}")
