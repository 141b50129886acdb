"""Websocket fan-out: 1,000 listeners of one run held by one daphne process, in production mode.

Per round: sarah starts `escalate-shipment` through `skills.services.skill_run_start` and the
Celery worker takes it to `awaiting_confirmation`; the benchmark then opens `--connections`
websockets to `ws://…/ws/runs/<run_id>/?after=<last seq>` (sarah's session cookie, an allowed
Origin), waits until every one has joined the run's channel-layer group, reads daphne's resident
set (VmRSS) before and after, and calls `skill_run_decide(approve=True)`. Every listener records
when each following event arrives (`run.confirmed`, `run.tool_result`, `run.delta`…,
`run.final`). Reported: memory per connection, per-listener latency from the decision call to the
first event and to `run.final`, each event's latency from its stored `created_at` (same machine,
same clock), how far apart the first and last listener got each event, and every listener's
missing, duplicated or out-of-order events. Each round reconnects all listeners to a new run.

The model is Aspora's built-in offline model (no provider key is passed to the servers), not the
instant `TestModel` of the other benchmarks: `TestModel` calls no tools, so its runs never stop
for a confirmation. The offline model is local and deterministic: it calls `escalate_ticket`,
which `escalate-shipment` marks `confirm`, and after the decision streams its answer.

    .venv/bin/python bench/ws_fanout.py                       # 1,000 listeners, 5 rounds
    .venv/bin/python bench/ws_fanout.py --connections 100 --rounds 2   # a quick look
    .venv/bin/python bench/ws_fanout.py --consumer console    # ws/console/ + a `follow` message
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import Stack, cpu_seconds, format_summary, free_port, log, machine, percentile

try:
    from websockets.asyncio.client import connect
except ImportError as error:  # a dev requirement: `make install-dev` installs it
    raise SystemExit("bench/ws_fanout.py needs `websockets`: pip install -r requirements-dev.txt") from error

ASKER = "sarah"
SKILL = "escalate-shipment"
MESSAGE = "escalate ticket 1043 because customs"
RUN_TIMEOUT_SECONDS = 60
SUBSCRIBE_TIMEOUT_SECONDS = 60
SETTLE_SECONDS = 2.0
FD_MARGIN = 512  # database, Redis, log and listening sockets on top of one descriptor per websocket
TERMINAL_EVENTS = ("run.final", "run.error")
OFFLINE_MODEL = "aspora:offline"
# The servers answer with the offline model: `ASPORA_MODEL=test` would call no tool (see above).
NO_PROVIDER = {
    "ASPORA_MODEL": "",
    "ANTHROPIC_API_KEY": "",
    "OPENAI_API_KEY": "",
    "OPENAI_BASE_URL": "",
    "OPENROUTER_API_KEY": "",
}


# --- the operating system ----------------------------------------------------------------------


def fd_limit_raise(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to `needed` (daphne, started later, inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"RLIMIT_NOFILE hard limit is {hard}, {needed} descriptors are needed: raise it first")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        log(f"RLIMIT_NOFILE raised from {soft} to {needed} (hard {hard})")
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/{pid}/status")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_soft_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return "?"


# --- Django side (called on one dedicated thread: the ORM is synchronous) ----------------------


def session_create(username: str):
    """A signed-in session for `username`, made directly in the bench database."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from tenants.models import User

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return user, session.session_key


def run_awaiting_confirmation(user) -> tuple[str, int]:
    """Start the run and wait until the worker parks it; its id and last stored `seq`."""
    from django.db.models import Max

    from skills.models import RunStatus, SkillRun
    from skills.services import skill_run_start
    from tenants.services import asker_context_build

    run = skill_run_start(context=asker_context_build(user=user, channel="api"), message=MESSAGE, skill_name=SKILL)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while (status := SkillRun.objects.values_list("status", flat=True).get(pk=run.pk)) != "awaiting_confirmation":
        if status in ("succeeded", "failed", "refused") or time.monotonic() > deadline:
            raise RuntimeError(f"run {run.pk} is {status}, not {RunStatus.AWAITING_CONFIRMATION}")
        time.sleep(0.02)
    started = run.events.get(type="run.started").data
    if started.get("model") != OFFLINE_MODEL:
        raise RuntimeError(f"the run used {started.get('model')!r}, not the local {OFFLINE_MODEL}")
    return str(run.pk), run.events.aggregate(n=Max("seq"))["n"] or 0


def run_decide(user, run_id: str) -> None:
    from skills.models import SkillRun
    from skills.services import skill_run_decide

    skill_run_decide(user=user, run=SkillRun.objects.get(pk=run_id), approve=True)


def run_events_after(run_id: str, seq: int) -> list[tuple[int, str, float]]:
    """The run's stored events after `seq`: (seq, type, created_at as a Unix time)."""
    from skills.models import SkillRunEvent

    rows = SkillRunEvent.objects.filter(run_id=run_id, seq__gt=seq).order_by("seq")
    return [(row.seq, row.type, row.created_at.timestamp()) for row in rows]


def run_wait_finished(run_id: str) -> str:
    from skills.models import FINISHED_STATUSES, SkillRun

    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while (status := SkillRun.objects.values_list("status", flat=True).get(pk=run_id)) not in FINISHED_STATUSES:
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still {status} after {RUN_TIMEOUT_SECONDS} s")
        time.sleep(0.02)
    return status


def group_size(run_id: str) -> int:
    """Members of the run's group in channels_redis (one per subscribed socket)."""
    import redis
    from django.conf import settings

    from aspora.realtime import group_name

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
        return client.zcard(f"{prefix}:group:{group_name('run', run_id)}")


# --- the listeners -----------------------------------------------------------------------------


@dataclass
class Listener:
    ws: object
    received: list[tuple[float, int, str]] = field(default_factory=list)  # (time.time(), seq, type)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    closed_with: str | None = None
    reader: asyncio.Task | None = None

    async def read(self, run_id: str) -> None:
        try:
            async for raw in self.ws:
                arrived = time.time()
                event = json.loads(raw)
                name = event.get("event", "")
                if event.get("run_id") != run_id or not name.startswith("run."):
                    continue  # the console also carries the person's notifications
                self.received.append((arrived, event["seq"], name))
                if name in TERMINAL_EVENTS:
                    self.finished.set()
        except Exception as error:  # noqa: BLE001 - a dropped listener is counted, not fatal
            self.closed_with = f"{type(error).__name__}: {error}"
        else:
            self.closed_with = f"closed {self.ws.close_code}"
        self.finished.set()


async def listeners_open(args, session_key: str, run_id: str, after: int) -> tuple[list[Listener], int, float]:
    """Open `args.connections` sockets, at most `args.open_concurrency` handshakes at a time."""
    gate = asyncio.Semaphore(args.open_concurrency)
    path = f"/ws/runs/{run_id}/?after={after}" if args.consumer == "runs" else "/ws/console/"
    listeners: list[Listener] = []
    failures: list[str] = []

    async def one() -> None:
        async with gate:
            try:
                ws = await connect(
                    f"ws://127.0.0.1:{args.port}{path}",
                    origin=f"http://127.0.0.1:{args.port}",
                    additional_headers={"Cookie": f"sessionid={session_key}"},
                    open_timeout=SUBSCRIBE_TIMEOUT_SECONDS,
                    ping_interval=None,  # daphne pings every 20 s itself; the client need not add traffic
                    max_queue=None,
                )
                if args.consumer == "console":
                    await ws.send(json.dumps({"event": "follow", "run_id": run_id, "after": after}))
            except Exception as error:  # noqa: BLE001 - counted and reported
                failures.append(f"{type(error).__name__}: {error}")
                return
        listener = Listener(ws)
        listener.reader = asyncio.create_task(listener.read(run_id))
        listeners.append(listener)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(args.connections)))
    elapsed = time.perf_counter() - started
    for failure in sorted(set(failures))[:5]:
        log(f"  open failed: {failure}")
    return listeners, len(failures), elapsed


async def listeners_close(listeners: list[Listener]) -> None:
    async def one(listener: Listener) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listener.ws.close(), 10)
        if listener.reader is not None:
            listener.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener.reader

    for start in range(0, len(listeners), 200):
        await asyncio.gather(*(one(listener) for listener in listeners[start : start + 200]))


# --- one round ---------------------------------------------------------------------------------


@dataclass
class Round:
    run_id: str
    connections: int
    open_failures: int
    open_seconds: float
    subscribed_seconds: float
    rss_before_kib: int
    rss_after_kib: int
    rss_closed_kib: int
    fds_before: int
    fds_after: int
    decided_at: float  # time.time() just before skill_run_decide
    decide_seconds: float  # the decision call itself (commit included)
    status: str
    expected: list[tuple[int, str, float]]  # stored events after the decision point
    listeners: list[Listener]
    daphne_cpu: float  # daphne CPU seconds from the decision to the last listener done
    client_cpu: float  # this process's CPU over the same span
    fanout_seconds: float  # decision → every listener finished (or timed out)

    @property
    def per_connection_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.connections)


async def one_round(args, db: ThreadPoolExecutor, user, session_key: str, daphne_pid: int, index: int) -> Round:
    loop = asyncio.get_running_loop()
    run_id, last_seq = await loop.run_in_executor(db, run_awaiting_confirmation, user)
    log(f"round {index}: run {run_id} awaiting confirmation (last seq {last_seq}); opening listeners…")
    await asyncio.sleep(SETTLE_SECONDS)
    rss_before, fds_before = proc_status_kib(daphne_pid, "VmRSS"), open_fds(daphne_pid)

    listeners, failures, open_seconds = await listeners_open(args, session_key, run_id, last_seq)
    log(f"  {len(listeners)} open in {open_seconds:.1f} s ({failures} failed); waiting for the group…")
    started = time.perf_counter()
    while (members := await loop.run_in_executor(db, group_size, run_id)) < len(listeners):
        if time.perf_counter() - started > SUBSCRIBE_TIMEOUT_SECONDS:
            raise RuntimeError(f"only {members} of {len(listeners)} sockets joined the run's group")
        await asyncio.sleep(0.05)
    subscribed_seconds = open_seconds + time.perf_counter() - started
    await asyncio.sleep(SETTLE_SECONDS)
    rss_after, fds_after = proc_status_kib(daphne_pid, "VmRSS"), open_fds(daphne_pid)
    log(
        f"  {members} in the group after {subscribed_seconds:.1f} s; daphne VmRSS {rss_before / 1024:.1f} → "
        f"{rss_after / 1024:.1f} MiB, {fds_before} → {fds_after} fds; deciding…"
    )

    cpu_before, client_before = cpu_seconds(daphne_pid), time.process_time()
    decided_at = time.time()
    await loop.run_in_executor(db, run_decide, user, run_id)
    decide_seconds = time.time() - decided_at
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(listener.finished.wait() for listener in listeners)), RUN_TIMEOUT_SECONDS
        )
    fanout_seconds = time.time() - decided_at
    daphne_cpu, client_cpu = cpu_seconds(daphne_pid) - cpu_before, time.process_time() - client_before
    status = await loop.run_in_executor(db, run_wait_finished, run_id)
    await asyncio.sleep(0.5)  # anything late or duplicated still reaches the readers
    expected = await loop.run_in_executor(db, run_events_after, run_id, last_seq)

    await listeners_close(listeners)
    await asyncio.sleep(SETTLE_SECONDS)
    rss_closed = proc_status_kib(daphne_pid, "VmRSS")
    done_ms = fanout_seconds * 1000
    log(f"  run {status}, all listeners done in {done_ms:.0f} ms; closed, VmRSS {rss_closed / 1024:.1f} MiB")
    return Round(
        run_id,
        len(listeners),
        failures,
        open_seconds,
        subscribed_seconds,
        rss_before,
        rss_after,
        rss_closed,
        fds_before,
        fds_after,
        decided_at,
        decide_seconds,
        status,
        expected,
        listeners,
        daphne_cpu,
        client_cpu,
        fanout_seconds,
    )


# --- figures -----------------------------------------------------------------------------------


@dataclass
class Delivery:
    first: list[float] = field(default_factory=list)  # decision → first event, per listener
    final: list[float] = field(default_factory=list)  # decision → run.final, per listener
    since_created: list[float] = field(default_factory=list)  # event created_at → received, all
    spread: list[float] = field(default_factory=list)  # per event: last listener - first listener
    by_event: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # decision → event
    by_event_created: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    missing: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    incomplete_listeners: int = 0
    dropped: list[str] = field(default_factory=list)
    deliveries: int = 0


def deliveries(rounds: list[Round]) -> Delivery:
    d = Delivery()
    for rnd in rounds:
        expected = {seq: (kind, created) for seq, kind, created in rnd.expected}
        labels = {seq: f"#{n} {kind}" for n, (seq, kind, _) in enumerate(rnd.expected, 1)}
        arrivals: dict[int, list[float]] = defaultdict(list)
        for listener in rnd.listeners:
            seqs = [seq for _, seq, _ in listener.received]
            seen = set(seqs)
            missing = len(set(expected) - seen)
            d.missing += missing
            d.duplicated += len(seqs) - len(seen)
            d.out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
            d.incomplete_listeners += missing > 0
            if missing and listener.closed_with and not listener.closed_with.startswith("closed"):
                d.dropped.append(listener.closed_with)
            if listener.received:
                d.first.append(listener.received[0][0] - rnd.decided_at)
            firsts: dict[int, float] = {}
            for arrived, seq, kind in listener.received:
                firsts.setdefault(seq, arrived)
                if kind == "run.final":
                    d.final.append(arrived - rnd.decided_at)
            for seq, arrived in firsts.items():
                if seq not in expected:
                    continue
                d.deliveries += 1
                arrivals[seq].append(arrived)
                d.since_created.append(arrived - expected[seq][1])
                d.by_event[labels[seq]].append(arrived - rnd.decided_at)
                d.by_event_created[labels[seq]].append(arrived - expected[seq][1])
        d.spread += [max(times) - min(times) for times in arrivals.values()]
    return d


def report(args, rounds: list[Round], daphne_pid: int) -> None:
    n = args.connections
    print(f"\n== Websocket fan-out: {n} listeners of one run on one daphne process (production mode) ==")
    print(f"machine at the end: {machine()}")
    print(f"consumer: {'ws/runs/<id>/?after=<seq>' if args.consumer == 'runs' else 'ws/console/ + follow'}")
    limits = f"daphne {fd_soft_limit(daphne_pid)}, bench client {fd_soft_limit(os.getpid())}"
    print(f"max open files: {limits}")
    print("rounds (one new run each, every listener reconnected)")
    for i, rnd in enumerate(rounds, 1):
        counts = ", ".join(f"{kind}" for _, kind, _ in rnd.expected)
        print(
            f"  {i}: {rnd.connections} open ({rnd.open_failures} failed) in {rnd.open_seconds:.1f} s, "
            f"subscribed after {rnd.subscribed_seconds:.1f} s; VmRSS {rnd.rss_before_kib / 1024:.1f} → "
            f"{rnd.rss_after_kib / 1024:.1f} MiB = {rnd.per_connection_kib:.1f} KiB/connection "
            f"(after closing: {rnd.rss_closed_kib / 1024:.1f} MiB); fds {rnd.fds_before} → {rnd.fds_after}"
        )
        print(
            f"     decide call {rnd.decide_seconds * 1000:.0f} ms; all listeners done "
            f"{rnd.fanout_seconds * 1000:.0f} ms after it; run {rnd.status}; events: {counts}"
        )
        deliveries_made = sum(len(listener.received) for listener in rnd.listeners)
        print(
            f"     CPU from decision to last listener: daphne {rnd.daphne_cpu * 1000:.0f} ms "
            f"({rnd.daphne_cpu / max(1, deliveries_made) * 1e6:.0f} µs per delivered message), "
            f"bench client {rnd.client_cpu * 1000:.0f} ms"
        )
    per_conn = [rnd.per_connection_kib for rnd in rounds]
    print(
        f"memory per connection (daphne VmRSS delta / connections): first round {per_conn[0]:.1f} KiB, "
        f"all rounds {min(per_conn):.1f} to {max(per_conn):.1f} KiB"
    )
    d = deliveries(rounds)
    print(f"delivery latency, per listener, all rounds ({len(rounds)} x {n})")
    print(format_summary("  decision → first event", d.first))
    print(format_summary("  decision → run.final", d.final))
    print(format_summary("  event created_at → received", d.since_created))
    print(format_summary("  per event: first → last listener", d.spread))
    print("  per event, decision → received / created_at → received:")
    for label in sorted(d.by_event, key=lambda text: int(text.split()[0][1:])):
        decision, created = d.by_event[label], d.by_event_created[label]
        columns = [
            f"{name} {value(decision) * 1000:6.1f} / {value(created) * 1000:6.1f}"
            for name, value in (
                ("min", min),
                ("p50", lambda xs: percentile(xs, 50)),
                ("p99", lambda xs: percentile(xs, 99)),
                ("max", max),
            )
        ]
        print(f"    {label:<20} n={len(decision):<5} {' ms  '.join(columns)} ms")
    expected = sum(len(rnd.expected) * rnd.connections for rnd in rounds)
    print(
        f"completeness: {d.deliveries} of {expected} (event, listener) deliveries; missing {d.missing}, "
        f"duplicated {d.duplicated}, out of order {d.out_of_order}; listeners missing any event: "
        f"{d.incomplete_listeners} of {sum(rnd.connections for rnd in rounds)}; open failures: "
        f"{sum(rnd.open_failures for rnd in rounds)}"
    )
    for reason in sorted(set(d.dropped))[:5]:
        print(f"  dropped: {reason}")
    verdict = "ALL listeners received every event" if d.missing == 0 and expected else "GAPS (see above)"
    print(f"verdict: {verdict}")


# --- main --------------------------------------------------------------------------------------


async def measure(args, daphne_pid: int) -> list[Round]:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="django") as db:
        user, session_key = await loop.run_in_executor(db, session_create, ASKER)
        log(f"warming up: {args.warmup} runs started and approved without listeners…")
        for _ in range(args.warmup):
            run_id, _ = await loop.run_in_executor(db, run_awaiting_confirmation, user)
            await loop.run_in_executor(db, run_decide, user, run_id)
            await loop.run_in_executor(db, run_wait_finished, run_id)
        rounds = []
        for index in range(1, args.rounds + 1):
            rounds.append(await one_round(args, db, user, session_key, daphne_pid, index))
        return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000, help="listeners per run (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="runs decided with listeners (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="runs decided without listeners first (default 2)")
    parser.add_argument("--open-concurrency", type=int, default=50, help="handshakes at a time (default 50)")
    parser.add_argument("--consumer", choices=("runs", "console"), default="runs", help="default: runs")
    parser.add_argument("--port", type=int, default=0, help="daphne port (default: a free one)")
    parser.add_argument("--db", default="aspora_bench_fanout", help="PostgreSQL database, dropped and recreated")
    parser.add_argument("--redis-db", type=int, default=10, help="Redis db number, flushed (default 10)")
    args = parser.parse_args()
    args.port = args.port or free_port()

    limit = fd_limit_raise(args.connections + FD_MARGIN)
    log(f"RLIMIT_NOFILE soft limit {limit} (daphne and the worker inherit it)")
    with Stack(name="fanout", db_name=args.db, redis_db=args.redis_db, extra_env=NO_PROVIDER) as stack:
        daphne = stack.start_daphne(args.port)
        stack.start_celery_worker(concurrency=2)
        log(f"daphne pid {daphne.pid}: max open files {fd_soft_limit(daphne.pid)}")
        rounds = asyncio.run(measure(args, daphne.pid))
        stack.check_alive()
        report(args, rounds, daphne.pid)


if __name__ == "__main__":
    main()
