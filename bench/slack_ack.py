"""How fast the Slack bridge acknowledges: 200 signed events, 20 concurrent clients, one daphne.

Slack gives an app 3,000 ms to acknowledge an event before it retries; the goal here is a p99
under 50 ms. The bridge points at a loopback Web API, and every event is a real mention by a
linked person, so each ack is followed by a real run answering in its thread (Aspora's offline
model) while the next events arrive.

- embedded default (no flag): SQLite, jobs and runs in threads of the daphne process;
- `--production`: PostgreSQL, Redis, one daphne and one Celery worker (prefork, -c 2) through
  `harness.Stack`, on a database that is dropped and recreated (`--db`, `--redis-db`).

    .venv/bin/python bench/slack_ack.py [--events 200] [--clients 20]
    .venv/bin/python bench/slack_ack.py --production [--db aspora_bench_slack] [--redis-db 9]
"""

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from harness import Stack, free_port, log, machine, percentile  # noqa: E402

from tests.slack_loopback import TEAM_ID, SlackWebAPI  # noqa: E402

SECRET = "bench-signing-secret"  # noqa: S105 - a throwaway secret of this run
SLACK_LIMIT_MS = 3000
GOAL_P99_MS = 50
NO_PROVIDER = {
    "ASPORA_MODEL": "",
    "ANTHROPIC_API_KEY": "",
    "OPENAI_API_KEY": "",
    "OPENAI_BASE_URL": "",
    "OPENROUTER_API_KEY": "",
}
LINK = (
    "from tenants.models import ChannelIdentity, User; "
    f"ChannelIdentity.objects.get_or_create(provider='slack', workspace='{TEAM_ID}', "
    "external_user_id='USARAH', defaults={'user': User.objects.get(username='sarah')})"
)


def _event(n: int) -> str:
    ts = f"{1_690_000_000 + n}.000100"
    return json.dumps(
        {
            "team_id": TEAM_ID,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"EvBench{n:05d}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "USARAH",
                "text": "<@UBOT> show my tickets",
                "ts": ts,
                "channel": f"C{n % 20:04d}",
                "event_ts": ts,
            },
        }
    )


def _headers(body: str) -> dict:
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def _wait_up(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("daphne did not come up")


def _slack_env(slack: SlackWebAPI) -> dict[str, str]:
    return {
        **NO_PROVIDER,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_API_URL": slack.base_url,
        "DJANGO_LOG_LEVEL": "WARNING",
        # Every event is one person's mention: the per-person limit would refuse all but 20 a minute.
        "ASPORA_RATE_LIMIT_PER_MINUTE": "0",
    }


@contextlib.contextmanager
def _embedded(slack: SlackWebAPI, port: int):
    """A fresh SQLite database and one daphne on the embedded default; yields a label."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            _slack_env(slack), DJANGO_SETTINGS_MODULE="aspora.settings", ASPORA_SQLITE_PATH=str(Path(tmp, "b.sqlite3"))
        )
        manage = [str(BIN / "python"), str(ROOT / "manage.py")]
        log("migrating and seeding a fresh embedded database")
        for command in (["migrate", "--noinput", "-v0"], ["seed_demo"], ["shell", "-c", LINK]):
            subprocess.run(manage + command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        server = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "aspora.asgi:application"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_up(port)
            yield "embedded default: SQLite, jobs and runs in daphne's threads"
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextlib.contextmanager
def _production(slack: SlackWebAPI, port: int, *, db: str, redis_db: int):
    """PostgreSQL, Redis, one daphne and one Celery worker (harness.Stack); yields a label."""
    with Stack(name="slack", db_name=db, redis_db=redis_db, extra_env=_slack_env(slack)) as stack:
        stack.manage("shell", "-c", LINK)
        stack.start_daphne(port)
        stack.start_celery_worker(concurrency=2)
        yield "production: PostgreSQL, Redis, jobs and runs in one Celery worker (prefork, -c 2)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--production", action="store_true", help="PostgreSQL, Redis and a Celery worker")
    parser.add_argument("--db", default="aspora_bench_slack", help="with --production: database, dropped and recreated")
    parser.add_argument("--redis-db", type=int, default=9, help="with --production: Redis db number, flushed")
    args = parser.parse_args()
    log(f"machine: {machine()}")
    port = free_port()
    with SlackWebAPI() as slack:
        server = (
            _production(slack, port, db=args.db, redis_db=args.redis_db) if args.production else _embedded(slack, port)
        )
        with server as label:
            _measure(slack, port, args, label)


def _measure(slack: SlackWebAPI, port: int, args, label: str) -> None:
    log(f"daphne on :{port}; sending {args.events} events from {args.clients} clients")
    local = threading.local()
    done = [0]
    lock = threading.Lock()

    def send(n: int) -> tuple[int, float, bool]:
        first = not hasattr(local, "conn")
        if first:
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = _event(n)
        started = time.perf_counter()
        local.conn.request("POST", "/slack/events", body=body, headers=_headers(body))
        response = local.conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            done[0] += 1
            if done[0] % 20 == 0:
                log(f"  {done[0]}/{args.events} acknowledged")
        return response.status, elapsed, first

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        results = list(pool.map(send, range(args.events)))
    wall = time.monotonic() - began
    statuses = {status for status, _, _ in results}
    samples = [ms for _, ms, _ in results]
    # Each client's first request also opens its connection and meets the server's cold pools.
    warm = [ms for _, ms, first in results if not first]
    log("waiting for the answers to reach the loopback Slack")

    def answered_count(api) -> int:
        last: dict[str, str] = {}
        for call in api.of("chat.update"):
            last[call.params["ts"]] = call.params.get("text", "")
        return sum("#1042" in text and not text.endswith(" …") for text in last.values())

    answered = slack.wait_for(lambda api: answered_count(api) >= args.events, timeout=600)
    finals = answered_count(slack)
    answer_wall = time.monotonic() - began
    threads = slack.of("chat.postMessage")
    p99 = percentile(samples, 99)
    print()
    print(f"Slack ack latency — {args.events} signed events, {args.clients} concurrent clients, one daphne")
    print(f"  server            {label}")
    print(f"  machine           {machine()}")
    print(f"  HTTP statuses     {sorted(statuses)}")
    print(f"  p50               {percentile(samples, 50):7.1f} ms")
    print(f"  p99               {p99:7.1f} ms")
    print(f"  max               {max(samples):7.1f} ms")
    print(
        f"  without each client's first request (connect, cold pools): n={len(warm)} "
        f"p50 {percentile(warm, 50):.1f} ms, p99 {percentile(warm, 99):.1f} ms, max {max(warm):.1f} ms"
    )
    print(
        f"  Slack's limit     {SLACK_LIMIT_MS:7d} ms   (goal p99 < {GOAL_P99_MS} ms: "
        f"{'met' if p99 < GOAL_P99_MS else 'NOT met'})"
    )
    print(f"  throughput        {args.events / wall:7.1f} events/s")
    print(
        f"  status messages   {len(threads)}; answers delivered {finals}/{args.events}"
        f" after {answer_wall:.1f} s{'' if answered else ' (timed out waiting)'}"
    )


if __name__ == "__main__":
    main()
