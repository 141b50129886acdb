"""First visible feedback: how soon a person who asked sees that Aspora is on it (goal: p95 < 1 s).

Production mode through `harness.Stack` (PostgreSQL, Redis, one daphne, one Celery worker
prefork -c 2), Aspora's offline model, the Slack bridge pointed at a loopback Web API in this
process. After `--warmup` unmeasured asks per door, asks arrive open-loop at each of `--rates` per
second in turn (a slow answer never slows the arrivals), so the figures show where the one worker
stops keeping up. Each door and rate starts once every earlier run has finished.

- Slack: a signed `app_mention` by linked sarah is POSTed to `/slack/events`; the feedback is the
  "working…" status message reaching the loopback Slack (`chat.postMessage` in the event's
  thread). Measured from just before the request is sent.
- Console: sarah's session on `ws/console/` sends `{"event": "ask"}`; the feedback is the first
  run event (`run.started`, the first event with a `seq`) for that ask on the same socket; the
  `run.accepted` acknowledgement is reported beside it. Measured from just before the send.

    .venv/bin/python bench/first_feedback.py [--asks 100] [--rates 1 2 4] [--sockets 10]
    .venv/bin/python bench/first_feedback.py --db aspora_bench_feedback --redis-db 12
"""

import argparse
import asyncio
import hashlib
import hmac
import http.client
import itertools
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from harness import Stack, free_port, log, machine, percentile  # noqa: E402

from tests.slack_loopback import TEAM_ID, SlackWebAPI  # noqa: E402

try:
    from websockets.asyncio.client import connect
except ImportError as error:  # a dev requirement: `make install-dev` installs it
    raise SystemExit("bench/first_feedback.py needs `websockets`: pip install -r requirements-dev.txt") from error

SECRET = "bench-signing-secret"  # noqa: S105 - a throwaway secret of this run
GOAL_P95_MS = 1000
WAIT_SECONDS = 120
ASKER = "sarah"
QUESTION = "show my tickets"
NO_PROVIDER = {"ASPORA_MODEL": "", "ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "",
               "OPENROUTER_API_KEY": ""}  # fmt: skip
LINK = (
    "from tenants.models import ChannelIdentity, User; "
    f"ChannelIdentity.objects.get_or_create(provider='slack', workspace='{TEAM_ID}', "
    f"external_user_id='USARAH', defaults={{'user': User.objects.get(username='{ASKER}')}})"
)


def _summary(label: str, samples_ms: list[float], expected: int) -> str:
    if not samples_ms:
        return f"  {label:<34} no samples (0/{expected})"
    p95 = percentile(samples_ms, 95)
    verdict = "met" if p95 < GOAL_P95_MS and len(samples_ms) == expected else "NOT met"
    return (
        f"  {label:<34} n={len(samples_ms)}/{expected}  p50 {percentile(samples_ms, 50):7.1f} ms  "
        f"p95 {p95:7.1f} ms  p99 {percentile(samples_ms, 99):7.1f} ms  max {max(samples_ms):7.1f} ms"
        f"   (goal p95 < {GOAL_P95_MS} ms: {verdict})"
    )


# --- Slack ------------------------------------------------------------------------------------


def _mention(n: int) -> tuple[str, str]:
    ts = f"{1_710_000_000 + n}.000100"
    body = json.dumps(
        {
            "team_id": TEAM_ID,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"EvFeedback{n:05d}",
            "event_time": int(time.time()),
            "event": {"type": "app_mention", "user": "USARAH", "text": f"<@UBOT> {QUESTION}", "ts": ts,
                      "channel": f"C{n % 10:04d}", "event_ts": ts},
        }
    )  # fmt: skip
    return ts, body


def _signed_headers(body: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest}"}  # fmt: skip


def slack_measure(
    slack: SlackWebAPI, port: int, *, asks: int, rate: float, first: int
) -> tuple[list[float], list[int]]:
    """Per mention: request sent → its status message at the loopback, in ms; and the HTTP statuses."""
    sent: dict[str, float] = {}
    statuses: list[int] = []

    def send(n: int) -> None:
        ts, body = _mention(n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sent[ts] = time.monotonic()
        conn.request("POST", "/slack/events", body=body, headers=_signed_headers(body))
        response = conn.getresponse()
        response.read()
        conn.close()
        statuses.append(response.status)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for i in range(asks):
            time.sleep(max(0.0, began + i / rate - time.monotonic()))
            pool.submit(send, first + i)
    log(f"  {asks} mentions sent in {time.monotonic() - began:.1f} s; waiting for their status messages")

    def statuses_posted(api) -> int:
        return sum(1 for call in api.of("chat.postMessage") if call.params.get("thread_ts") in sent)

    slack.wait_for(lambda api: statuses_posted(api) >= asks, timeout=WAIT_SECONDS)
    seen: dict[str, float] = {}
    for call in slack.of("chat.postMessage"):
        thread = call.params.get("thread_ts")
        if thread in sent and thread not in seen:
            seen[thread] = (call.at - sent[thread]) * 1000
    return list(seen.values()), statuses


# --- console ----------------------------------------------------------------------------------


async def console_measure(port: int, session_key: str, *, asks: int, rate: float, sockets: int, first: int):
    """Per ask: send → `run.accepted` and send → first run event on the same socket, in ms."""
    accepted: dict[str, float] = {}
    first_event: dict[str, float] = {}
    sent: dict[str, float] = {}
    run_of: dict[str, str] = {}
    done = asyncio.Event()

    async def reader(ws) -> None:
        async for raw in ws:
            now = time.monotonic()
            message = json.loads(raw)
            client_id, run_id = message.get("client_id"), message.get("run_id")
            if message.get("event") == "run.accepted" and client_id in sent:
                accepted[client_id] = (now - sent[client_id]) * 1000
                run_of[run_id] = client_id
            elif message.get("seq") and run_id:
                # A run event can beat its own accept over the socket; it is matched once the accept lands.
                first_event.setdefault(run_id, now)
            if len(accepted) >= asks and all(run in first_event for run in run_of):
                done.set()

    origin = f"http://127.0.0.1:{port}"
    headers = {"Cookie": f"sessionid={session_key}"}
    connections = [
        await connect(f"ws://127.0.0.1:{port}/ws/console/", origin=origin, additional_headers=headers)
        for _ in range(sockets)
    ]
    readers = [asyncio.create_task(reader(ws)) for ws in connections]
    began = time.monotonic()
    for i, ws in zip(range(asks), itertools.cycle(connections), strict=False):
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        client_id = f"bench-{first + i}"
        sent[client_id] = time.monotonic()
        await ws.send(json.dumps({"event": "ask", "message": QUESTION, "client_id": client_id}))
    log(f"  {asks} asks sent in {time.monotonic() - began:.1f} s; waiting for their first run events")
    try:
        await asyncio.wait_for(done.wait(), timeout=WAIT_SECONDS)
    except TimeoutError:
        log("  timed out waiting for every ask's first run event")
    for task in readers:
        task.cancel()
    for ws in connections:
        await ws.close()
    events = [(first_event[run] - sent[client]) * 1000 for run, client in run_of.items() if run in first_event]
    return list(accepted.values()), events


def _drain(timeout: float = 300) -> float:
    """Wait until no run is queued or running, so each phase starts on an idle worker; seconds waited."""
    from skills.models import RunStatus, SkillRun

    began = time.monotonic()
    while SkillRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).exists():
        if time.monotonic() - began > timeout:
            log(f"  runs still unfinished after {timeout:.0f} s; going on")
            break
        time.sleep(0.2)
    return time.monotonic() - began


def _session_for(username: str) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from tenants.models import User

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=100, help="asks per door and rate (default 100)")
    parser.add_argument("--rates", type=float, nargs="+", default=[1, 2, 4], help="asks per second (default 1 2 4)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured asks per door first (default 5)")
    parser.add_argument("--sockets", type=int, default=10, help="console websockets the asks share (default 10)")
    parser.add_argument("--port", type=int, default=0, help="daphne port (default: a free one)")
    parser.add_argument("--db", default="aspora_bench_feedback", help="PostgreSQL database, dropped and recreated")
    parser.add_argument("--redis-db", type=int, default=12, help="Redis db number, flushed (default 12)")
    args = parser.parse_args()
    port = args.port or free_port()
    lines: list[str] = []
    with SlackWebAPI() as slack:
        env = {**NO_PROVIDER, "SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench",
               "SLACK_API_URL": slack.base_url, "DJANGO_LOG_LEVEL": "WARNING"}  # fmt: skip
        with Stack(name="feedback", db_name=args.db, redis_db=args.redis_db, extra_env=env) as stack:
            stack.manage("shell", "-c", LINK)
            stack.start_daphne(port)
            stack.start_celery_worker(concurrency=2)
            session_key = _session_for(ASKER)
            if args.warmup:
                log(f"warming up: {args.warmup} unmeasured asks per door (the worker's first runs load the executor)")
                slack_measure(slack, port, asks=args.warmup, rate=1, first=900_000)
                asyncio.run(console_measure(port, session_key, asks=args.warmup, rate=1, sockets=1, first=900_000))
                _drain()
            for index, rate in enumerate(args.rates):
                first = index * args.asks
                log(f"{rate:g}/s — Slack: {args.asks} mentions")
                slack_ms, statuses = slack_measure(slack, port, asks=args.asks, rate=rate, first=first)
                stack.check_alive()
                log(f"  their runs finished {_drain():.1f} s later")
                log(f"{rate:g}/s — console: {args.asks} asks over {args.sockets} websockets")
                accepted_ms, event_ms = asyncio.run(
                    console_measure(port, session_key, asks=args.asks, rate=rate, sockets=args.sockets, first=first)
                )
                stack.check_alive()
                log(f"  their runs finished {_drain():.1f} s later")
                lines += [
                    f"{rate:g} asks/s (Slack HTTP statuses {sorted(set(statuses))})",
                    _summary("Slack: mention → 'working…' post", slack_ms, args.asks),
                    _summary("console: ask → first run event", event_ms, args.asks),
                    _summary("console: ask → run.accepted", accepted_ms, args.asks),
                ]
            print()
            print(f"First visible feedback — {args.asks} asks per door and rate, open loop, production mode")
            print("  server: one daphne, one Celery worker (prefork, -c 2), offline model; loopback Slack Web API")
            print(f"  machine at the end: {machine()}")
            for line in lines:
                print(line if line.startswith("  ") else f"  {line}")


if __name__ == "__main__":
    main()
