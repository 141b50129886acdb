"""How fast the Slack bridge acknowledges: 200 signed events, 20 concurrent clients, one daphne.

Slack gives an app 3,000 ms to acknowledge an event before it retries; the goal here is a p99
under 50 ms. The server is the embedded default (SQLite, in-process jobs) with the bridge pointed
at a loopback Web API, and every event is a real mention by a linked person, so each ack is
followed by a real run answering in its thread while the next events arrive.

    python bench/slack_ack.py [--events 200] [--clients 20]
"""

import argparse
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

from harness import free_port, log, machine, percentile  # noqa: E402

from tests.slack_loopback import TEAM_ID, SlackWebAPI  # noqa: E402

SECRET = "bench-signing-secret"  # noqa: S105 - a throwaway secret of this run
SLACK_LIMIT_MS = 3000
GOAL_P99_MS = 50
SETTINGS = """from aspora.settings import *  # noqa: F403
ROOT_URLCONF = "tests.bridges.urls"  # the bridge's URLs, whether or not aspora/urls.py includes them yet
"""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    log(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp, SlackWebAPI() as slack:
        Path(tmp, "bench_slack_settings.py").write_text(SETTINGS)
        env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="bench_slack_settings",
            PYTHONPATH=os.pathsep.join([tmp, str(ROOT)]),
            ASPORA_SQLITE_PATH=str(Path(tmp, "bench.sqlite3")),
            ASPORA_MODEL="",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_BOT_TOKEN="xoxb-bench",  # noqa: S106 - the loopback accepts any token
            SLACK_API_URL=slack.base_url,
            DJANGO_LOG_LEVEL="WARNING",
        )
        manage = [str(BIN / "python"), str(ROOT / "manage.py")]
        log("migrating and seeding a fresh embedded database")
        for command in (["migrate", "--noinput", "-v0"], ["seed_demo"], ["shell", "-c", LINK]):
            subprocess.run(manage + command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        server = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "aspora.asgi:application"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_up(port)
            log(f"daphne on :{port}; sending {args.events} events from {args.clients} clients")
            local = threading.local()
            done = [0]
            lock = threading.Lock()

            def send(n: int) -> tuple[int, float]:
                if not hasattr(local, "conn"):
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
                return response.status, elapsed

            began = time.monotonic()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                results = list(pool.map(send, range(args.events)))
            wall = time.monotonic() - began
            statuses = {status for status, _ in results}
            samples = [ms for _, ms in results]
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
            print()
            print(f"Slack ack latency — {args.events} signed events, {args.clients} concurrent clients, one daphne")
            print(f"  HTTP statuses     {sorted(statuses)}")
            print(f"  p50               {percentile(samples, 50):7.1f} ms")
            print(f"  p99               {percentile(samples, 99):7.1f} ms")
            print(f"  max               {max(samples):7.1f} ms")
            print(
                f"  Slack's limit     {SLACK_LIMIT_MS:7d} ms   (goal p99 < {GOAL_P99_MS} ms: "
                f"{'met' if percentile(samples, 99) < GOAL_P99_MS else 'NOT met'})"
            )
            print(f"  throughput        {args.events / wall:7.1f} events/s")
            print(
                f"  status messages   {len(threads)}; answers delivered {finals}/{args.events}"
                f" after {answer_wall:.1f} s{'' if answered else ' (timed out waiting)'}"
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
